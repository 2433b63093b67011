/**
 * Runs a sprint run's steps one after another inside its SPRINT_IMPLEMENTATION job (mode
 * SPRINT_BATCH). Each step is its own transactions, so progress is visible while the job runs.
 * Before each step the run is read again: a paused, cancelled or failed run starts no further
 * step (a paused run is continued by a new job on resume). A step left IN_PROGRESS by a worker
 * that was lost is run again by the job that retries it.
 */
import type { Db } from '../db/database.js';
import type { Step } from '../db/tables/step.table.js';
import { AgentAbortedError, type AgentOutput, type Executor } from '../executors/executor.js';
import { coerceError } from '../errors/app-error.js';
import { loadTaskBriefs, reportedFailure, taskPrompt } from './task-prompt.js';
import { stepMachine, taskMachine } from '../machines/index.js';
import { transition } from '../transitions/index.js';
import { deferredOf } from './run-result.js';
import { completeStep, failStep } from './step-outcome.js';

export interface SprintBatchContext {
  db: Db;
  runId: string;
  executor: Executor;
  signal: AbortSignal;
  log: (line: string) => void;
  actorTokenId: string;
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

  let output: AgentOutput | null = null;
  let failure: string | null = null;
  try {
    const briefs = await loadTaskBriefs(db, step.task_id ? [step.task_id] : []);
    const brief = step.task_id ? briefs.get(step.task_id) : undefined;
    const prompt = brief ? taskPrompt(brief) : { system: 'You carry out one step of a sprint.', user: `Task: ${step.name}` };
    output = await context.executor.run({ jobId: runId, kind: 'TASK_IMPLEMENTATION', prompt, signal: context.signal, log: context.log });
    failure = reportedFailure(output.data);
  } catch (error) {
    // An abort (cancel, shutdown, a lost lease) is not the step's failure: the run's ending handles it.
    if (error instanceof AgentAbortedError) throw error;
    failure = coerceError(error).message;
  }

  const end = { runId, stepId: step.id, taskId: step.task_id, actorTokenId };
  await db.transaction().execute((trx) => (failure === null ? completeStep(trx, end, output!) : failStep(trx, end, failure, output)));
  return { output, failure };
}
