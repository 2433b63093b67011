/**
 * What a TASK_IMPLEMENTATION job's change does to its task, and, when the job runs a step of a
 * live sprint run, to that step:
 * - started: the step PENDING -> IN_PROGRESS, the task TO_DO -> IN_PROGRESS;
 * - failed (and not retried): the step IN_PROGRESS -> FAILED, then the task -> FAILED, which
 *   fails the story and, inside the run, the run (and so skips the rest and blocks the sprint);
 * - cancelled: nothing; the task stays where it is for a later job or a user; the same when its
 *   repository could not be prepared (no agent ran) outside a run.
 * Task moves carry the run's id, so they are checked for ownership and reach the run.
 */
import type { Trx } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { stepMachine, taskMachine } from '../machines/index.js';
import { type AppliedTransition, type Door, inherited } from '../transitions/index.js';

export async function taskJobCascade(trx: Trx, change: AppliedTransition<ClaudeJob>, door: Door): Promise<void> {
  const job = change.row;
  const started = change.to === 'RUNNING';
  const failed = change.to === 'FAILED' && !change.context.retriedAs;
  if (!started && !failed) return;

  const runId = await liveRun(trx, job.sprint_run_id);
  // Its repository could not be prepared, so no agent touched the task: it stays in progress
  // for a new job once the product's repository is fixed (FAILED would be for good). Inside a
  // run the step fails as any failed step does, and the run with it.
  if (failed && !runId && agentNeverRan(job.error)) return;
  const why = `TASK_IMPLEMENTATION job ${job.id} ${started ? 'started' : 'failed'}`;
  const now = new Date().toISOString();

  if (runId) {
    const step = await trx
      .selectFrom('steps')
      .select(['id', 'status'])
      .where('sprint_run_id', '=', runId)
      .where('task_id', '=', job.task_id)
      .forUpdate()
      .executeTakeFirst();
    if (started && step?.status === 'PENDING') {
      await door.transition(trx, stepMachine, {
        id: step.id,
        from: 'PENDING',
        to: 'IN_PROGRESS',
        set: { started_at: now, job_id: job.id },
        context: inherited(change, why),
      });
    } else if (failed && step?.status === 'IN_PROGRESS') {
      await door.transition(trx, stepMachine, {
        id: step.id,
        from: 'IN_PROGRESS',
        to: 'FAILED',
        set: { completed_at: now, output: { error: job.error ?? null } },
        context: inherited(change, why),
      });
    }
  }

  const task = await trx.selectFrom('tasks').select(['id', 'status']).where('id', '=', job.task_id!).forUpdate().executeTakeFirstOrThrow();
  const from = started ? 'TO_DO' : 'IN_PROGRESS';
  if (task.status !== from) return;
  await door.transition(trx, taskMachine, {
    id: task.id,
    from,
    to: started ? 'IN_PROGRESS' : 'FAILED',
    trigger: started ? 'agent_started' : 'agent_failed',
    context: { ...inherited(change, why), sprintRunId: runId },
  });
}

/** A job whose workspace could not be opened says so (src/jobs/workspace-run.ts): no agent ran. */
function agentNeverRan(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || !('details' in error)) return false;
  const { details } = error;
  return typeof details === 'object' && details !== null && 'agent_ran' in details && details.agent_ran === false;
}

/** The run id when the run is live (running or paused); a job outliving its run moves its task alone. */
async function liveRun(trx: Trx, runId: string | null): Promise<string | null> {
  if (!runId) return null;
  const run = await trx.selectFrom('sprint_runs').select('status').where('id', '=', runId).executeTakeFirst();
  return run?.status === 'RUNNING' || run?.status === 'PAUSED' ? runId : null;
}
