/**
 * Runs a sprint run's steps one after another inside its SPRINT_IMPLEMENTATION job (mode
 * SPRINT_BATCH). Each step is its own transactions, so progress is visible while the job runs:
 * PENDING -> IN_PROGRESS with its task started, the agent, then COMPLETED with the task verified
 * DONE, or FAILED with the task FAILED (which fails the run, skips the rest and blocks the
 * sprint through the cascades). A run that is no longer RUNNING (paused, cancelled, failed)
 * starts no further step.
 */
import type { JsonValue } from '../db/column-types.js';
import type { Db } from '../db/database.js';
import type { Step } from '../db/tables/step.table.js';
import { AgentAbortedError, type AgentOutput, type Executor } from '../executors/executor.js';
import { stepMachine, taskMachine } from '../machines/index.js';
import { transition } from '../transitions/index.js';
import { coerceError } from '../errors/app-error.js';
import { loadTaskBriefs, reportedFailure, taskPrompt } from '../kinds/task-implementation.kind.js';

export interface SprintBatchContext {
  db: Db;
  runId: string;
  executor: Executor;
  signal: AbortSignal;
  log: (line: string) => void;
  actorTokenId: string;
}

export interface StepOutcome {
  step_id: string;
  task_id: string | null;
  status: 'COMPLETED' | 'FAILED';
  agent: string | null;
  deferred: string[];
}

export async function runSprintBatch(context: SprintBatchContext): Promise<AgentOutput> {
  const { db, runId } = context;
  const outcomes: StepOutcome[] = [];
  const usage = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
  let stoppedBecause: string | null = null;

  for (;;) {
    const run = await db.selectFrom('sprint_runs').select(['status']).where('id', '=', runId).executeTakeFirstOrThrow();
    if (run.status !== 'RUNNING') {
      stoppedBecause = `run is ${run.status}`;
      break;
    }
    const step = await db
      .selectFrom('steps')
      .selectAll()
      .where('sprint_run_id', '=', runId)
      .where('status', '=', 'PENDING')
      .orderBy('position')
      .limit(1)
      .executeTakeFirst();
    if (!step) break;
    const outcome = await runStep(context, step, usage);
    outcomes.push(outcome);
    if (outcome.status === 'FAILED') {
      stoppedBecause = `step ${step.position} failed`;
      break;
    }
  }

  const deferred = outcomes.flatMap((outcome) => outcome.deferred);
  const summary = stoppedBecause
    ? `Sprint batch stopped after ${outcomes.length} step(s): ${stoppedBecause}.`
    : `Sprint batch ran ${outcomes.length} step(s).`;
  return {
    text: summary,
    data: { steps: outcomes as unknown as JsonValue, deferred, stopped_because: stoppedBecause },
    usage,
    agent: context.executor.name,
  };
}

async function runStep(context: SprintBatchContext, step: Step, usage: { inputTokens: number; outputTokens: number; costUsd: number }): Promise<StepOutcome> {
  const { db, runId, actorTokenId } = context;
  const because = (reason: string) => ({ actorTokenId, reason, sprintRunId: runId });
  const now = () => new Date().toISOString();

  await db.transaction().execute(async (trx) => {
    await transition(trx, stepMachine, { id: step.id, from: 'PENDING', to: 'IN_PROGRESS', set: { started_at: now(), agent: context.executor.name } });
    if (step.task_id) {
      const task = await trx.selectFrom('tasks').select('status').where('id', '=', step.task_id).executeTakeFirstOrThrow();
      if (task.status === 'TO_DO') {
        await transition(trx, taskMachine, { id: step.task_id, from: 'TO_DO', to: 'IN_PROGRESS', trigger: 'agent_started', context: because(`step ${step.position} started`) });
      }
    }
  });

  let output: AgentOutput | null = null;
  let failure: string | null = null;
  try {
    const briefs = await loadTaskBriefs(db, step.task_id ? [step.task_id] : []);
    const brief = step.task_id ? briefs.get(step.task_id) : undefined;
    const prompt = brief ? taskPrompt(brief) : { system: 'You carry out one step of a sprint.', user: `Task: ${step.name}` };
    output = await context.executor.run({ jobId: runId, kind: 'TASK_IMPLEMENTATION', prompt, signal: context.signal, log: context.log });
    usage.inputTokens += output.usage.inputTokens;
    usage.outputTokens += output.usage.outputTokens;
    usage.costUsd += output.usage.costUsd;
    failure = reportedFailure(output.data);
  } catch (error) {
    // An abort (cancel, shutdown) is not the step's failure: the run's own ending handles it.
    if (error instanceof AgentAbortedError) throw error;
    failure = coerceError(error).message;
  }

  const deferred = deferredOf(output?.data ?? null);
  await db.transaction().execute(async (trx) => {
    const stepOutput: JsonValue = output ? { text: output.text, data: output.data, agent: output.agent, error: failure } : { error: failure };
    if (failure === null) {
      await transition(trx, stepMachine, { id: step.id, from: 'IN_PROGRESS', to: 'COMPLETED', set: { output: stepOutput, completed_at: now() } });
      if (step.task_id) {
        await transition(trx, taskMachine, { id: step.task_id, from: 'IN_PROGRESS', to: 'REVIEW', trigger: 'implementation_done', context: because(`step ${step.position} completed`) });
        // Inside a sprint run the agent's own verification is the review.
        await transition(trx, taskMachine, { id: step.task_id, from: 'REVIEW', to: 'DONE', trigger: 'verify_passed', context: because(`step ${step.position} verified`) });
      }
    } else {
      await transition(trx, stepMachine, { id: step.id, from: 'IN_PROGRESS', to: 'FAILED', set: { output: stepOutput, completed_at: now() } });
      if (step.task_id) {
        await transition(trx, taskMachine, { id: step.task_id, from: 'IN_PROGRESS', to: 'FAILED', trigger: 'agent_failed', context: because(`step ${step.position} failed: ${failure}`) });
      }
    }
  });
  return { step_id: step.id, task_id: step.task_id, status: failure === null ? 'COMPLETED' : 'FAILED', agent: output?.agent ?? null, deferred };
}

function deferredOf(data: JsonValue): string[] {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return [];
  const deferred = data.deferred;
  return Array.isArray(deferred) ? deferred.filter((item): item is string => typeof item === 'string') : [];
}
