/**
 * Runs a sprint run's steps one after another inside its SPRINT_IMPLEMENTATION job (mode
 * SPRINT_BATCH). Each step is its own transactions, so progress is visible while the job runs.
 * Before each step the run is read again: a paused, cancelled or failed run starts no further
 * step (a paused run is continued by a new job on resume). A step left IN_PROGRESS by a worker
 * that was lost is run again by the job that retries it.
 *
 * When the product names a repository, every step works in the run's one workspace (branch
 * jobfleet/run-<run>): its work is committed and pushed after it, so later steps build on earlier
 * ones, and with a check a step that fails it is tried again in place with the failing output, up
 * to VERIFY_MAX_ATTEMPTS, before it fails (SPEC "Workspaces").
 */
import type { Db, Trx } from '../db/database.js';
import type { Step } from '../db/tables/step.table.js';
import { AgentAbortedError, type AgentChannel, type AgentOutput, type Executor } from '../executors/executor.js';
import { coerceError } from '../errors/app-error.js';
import { isProviderLimit } from '../errors/provider-limit.js';
import { type CheckFailure, loadTaskBriefs, reportedFailure, type TaskBrief, taskPrompt } from './task-prompt.js';
import { publishAndCheck, type WorkspaceRun, workspacePrompt } from '../jobs/workspace-run.js';
import type { Workspace, WorkspaceRecord } from '../workspaces/index.js';
import type { UsageMeter } from '../executors/usage-meter.js';
import { stepMachine, taskMachine } from '../machines/index.js';
import { transition } from '../transitions/index.js';
import { deferredOf } from './run-result.js';
import { completeStep, failStep, reviewArtifacts, type StepEnd, type StepReview } from './step-outcome.js';

export interface SprintBatchContext {
  db: Db;
  runId: string;
  executor: Executor;
  signal: AbortSignal;
  log: (line: string) => void;
  actorTokenId: string;
  /** The sprint job's MCP endpoint and token: every step's agent talks back as that job. */
  channel?: AgentChannel | undefined;
  /** The sprint job's usage against its budget: every step's agent counts into it. */
  meter?: UsageMeter | undefined;
  /** The run's workspace when its product names a repository: every step commits onto its branch. */
  repository: RunRepository | null;
}

export interface RunRepository {
  run: WorkspaceRun;
  workspace: Workspace;
  /** The branch's head after the last step that was pushed: the next step's record starts there. */
  head: string;
  /** Set when a step's work was salvaged: what follows it on HEAD is not the run's to push. */
  salvaged: WorkspaceRecord | null;
}

export async function runSprintBatch(context: SprintBatchContext): Promise<AgentOutput> {
  const { db, runId } = context;
  const usage = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
  const ran: { step: number; status: 'COMPLETED' | 'FAILED' }[] = [];
  const deferred: string[] = [];
  let stoppedBecause: string | null = null;

  for (;;) {
    const run = await db.selectFrom('sprint_runs').select('status').where('id', '=', runId).executeTakeFirstOrThrow();
    if (run.status !== 'RUNNING') {
      stoppedBecause = `the run is ${run.status.toLowerCase()}`;
      break;
    }
    const step = await db
      .selectFrom('steps')
      .selectAll()
      .where('sprint_run_id', '=', runId)
      .where('status', 'in', ['IN_PROGRESS', 'PENDING'])
      .orderBy('position')
      .limit(1)
      .executeTakeFirst();
    if (!step) break;
    context.log(`step ${step.position} (${step.name}) starts`);
    const outcome = await runStep(context, step);
    if (outcome.output) {
      usage.inputTokens += outcome.output.usage.inputTokens;
      usage.outputTokens += outcome.output.usage.outputTokens;
      usage.costUsd += outcome.output.usage.costUsd;
      deferred.push(...deferredOf(outcome.output.data));
    }
    ran.push({ step: step.position, status: outcome.failure === null ? 'COMPLETED' : 'FAILED' });
    if (outcome.failure !== null) {
      stoppedBecause = `step ${step.position} failed: ${outcome.failure}`;
      break;
    }
  }

  return {
    text: stoppedBecause ? `Ran ${ran.length} step(s), then stopped: ${stoppedBecause}.` : `Ran ${ran.length} step(s).`,
    data: { steps: ran, deferred, stopped_because: stoppedBecause },
    usage,
    agent: context.executor.name,
  };
}

async function runStep(context: SprintBatchContext, step: Step): Promise<{ output: AgentOutput | null; failure: string | null }> {
  const { db, runId, actorTokenId } = context;
  if (step.status === 'PENDING') {
    await db.transaction().execute(async (trx) => {
      await transition(trx, stepMachine, {
        id: step.id,
        from: 'PENDING',
        to: 'IN_PROGRESS',
        set: { started_at: new Date().toISOString(), agent: context.executor.name },
        context: { actorTokenId, reason: 'the sprint batch reached it' },
      });
      if (!step.task_id) return;
      const task = await trx.selectFrom('tasks').select('status').where('id', '=', step.task_id).forUpdate().executeTakeFirstOrThrow();
      if (task.status === 'TO_DO') {
        await transition(trx, taskMachine, {
          id: step.task_id,
          from: 'TO_DO',
          to: 'IN_PROGRESS',
          trigger: 'agent_started',
          context: { actorTokenId, reason: `step ${step.position} started`, sprintRunId: runId },
        });
      }
    });
  }

  const briefs = await loadTaskBriefs(db, step.task_id ? [step.task_id] : []);
  const brief = step.task_id ? briefs.get(step.task_id) : undefined;
  const end = { runId, stepId: step.id, taskId: step.task_id, actorTokenId };
  const check = context.repository?.run.repository.checkCommand ?? null;
  let previous: CheckFailure | undefined;
  for (let attempt = 1; ; attempt += 1) {
    const { output, failure, review } = await attemptStep(context, step, brief, previous);
    const verify = review.verify;
    if (failure !== null || !verify || verify.passed) {
      await db
        .transaction()
        .execute((trx) => (failure === null ? completeStep(trx, end, output!, review) : failStep(trx, end, failure, output)));
      return { output, failure };
    }
    const failed = `the check \`${verify.command}\` failed (${verify.timed_out ? 'timed out' : `exit code ${verify.exit_code}`}) on attempt ${attempt} of ${verify.max_attempts}`;
    if (attempt >= verify.max_attempts) {
      await db.transaction().execute(async (trx) => {
        await reviewStepTask(trx, end, review, failed, null);
        await failStep(trx, end, failed, output, reviewArtifacts(review, 'verify'));
      });
      return { output, failure: failed };
    }
    // Another attempt in the same workspace, from what was pushed, with the failing output.
    await db.transaction().execute((trx) => reviewStepTask(trx, end, review, failed, 'IN_PROGRESS'));
    previous = { attempt: attempt + 1, command: check!, failure: verify.output_tail };
  }
}

/** One run of the step's agent; in a repository, its work is committed, pushed and checked. */
async function attemptStep(
  context: SprintBatchContext,
  step: Step,
  brief: TaskBrief | undefined,
  previous: CheckFailure | undefined,
): Promise<{ output: AgentOutput | null; failure: string | null; review: StepReview }> {
  const { repository } = context;
  let prompt = brief
    ? taskPrompt(brief, undefined, previous)
    : { system: 'You carry out one step of a sprint.', user: `Task: ${step.name}` };
  if (repository) prompt = workspacePrompt(prompt, repository.workspace, repository.run.repository);
  let output: AgentOutput;
  let failure: string | null;
  try {
    output = await context.executor.run({
      jobId: context.runId,
      kind: 'TASK_IMPLEMENTATION',
      prompt,
      signal: context.signal,
      log: context.log,
      channel: context.channel,
      meter: context.meter,
      workspace: repository?.workspace,
    });
    failure = reportedFailure(output.data);
  } catch (error) {
    // An abort (cancel, shutdown, a lost lease, a budget's ceiling) and a provider's limit are not
    // the step's failure: the run's ending handles them (the workspace is salvaged on the way out).
    if (error instanceof AgentAbortedError || isProviderLimit(error)) throw error;
    if (context.signal.aborted) throw new AgentAbortedError(String(context.signal.reason));
    failure = coerceError(error).message;
    if (repository) repository.salvaged = (await repository.workspace.salvage('agent_failed')).record;
    return { output: null, failure, review: {} };
  }
  if (!repository) return { output, failure, review: {} };
  const published = await publishAndCheck(repository.run, repository.workspace, output, {
    failed: failure !== null,
    attempt: previous?.attempt ?? 1,
    message: `jobfleet: step ${step.position}: ${step.name}`,
    since: repository.head,
  });
  if (published.salvage !== undefined) repository.salvaged = published.salvage;
  if (published.workspace) repository.head = published.workspace.head_sha;
  // The check may leave build output or a formatter's edits: not the step's work, and not for the
  // next step's commit. What the step did is pushed already.
  if (published.verify) {
    // Only tidiness: a failure here must not cost the step its verdict.
    await repository.workspace
      .discard()
      .catch((error) => context.log(`could not discard the check's leftovers: ${coerceError(error).message}`));
  }
  return { output: published, failure, review: { workspace: published.workspace, verify: published.verify } };
}

/** The step's task goes to REVIEW with its work, and back to IN_PROGRESS when another attempt follows. */
async function reviewStepTask(trx: Trx, end: StepEnd, review: StepReview, failed: string, then: 'IN_PROGRESS' | null): Promise<void> {
  if (!end.taskId) return;
  const task = await trx.selectFrom('tasks').select('status').where('id', '=', end.taskId).forUpdate().executeTakeFirstOrThrow();
  // A person moved the task while its step ran: theirs to decide (see src/kinds/verify-gate.ts).
  if (task.status !== 'IN_PROGRESS') return;
  const context = { actorTokenId: end.actorTokenId, sprintRunId: end.runId };
  await transition(trx, taskMachine, {
    id: end.taskId,
    from: 'IN_PROGRESS',
    to: 'REVIEW',
    trigger: 'implementation_done',
    context: { ...context, reason: 'step attempted', artifacts: reviewArtifacts(review, 'workspace') },
  });
  if (!then) return;
  await transition(trx, taskMachine, {
    id: end.taskId,
    from: 'REVIEW',
    to: 'IN_PROGRESS',
    trigger: 'verify_failed',
    context: { ...context, reason: `${failed}; the step is tried again`, artifacts: reviewArtifacts(review, 'verify') },
  });
}
