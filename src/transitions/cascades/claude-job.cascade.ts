/**
 * What a job's change does to its subject (the kind's side effects that are not results):
 * - IDEA_GRILL / IDEA_MAKE_PLAN failed or cancelled: the idea goes to GRILL_FAILED / PLAN_FAILED
 *   (retryable), with the error in its log, unless another job of the kind still works on it;
 * - TASK_IMPLEMENTATION: see job-task.cascade.ts (its task, and its step inside a sprint run);
 * - SPRINT_IMPLEMENTATION started: its run goes QUEUED -> RUNNING; failed: the run fails;
 *   cancelled by a user: the run is cancelled (a job the run itself cancelled changes nothing).
 * A failure retried as a new job (context.retriedAs) leaves the subject where it is.
 * Results (grill_md, plan_md, REVIEW) are written by the kinds' result handlers, not here.
 */
import type { Trx } from '../../db/database.js';
import type { ClaudeJob } from '../../db/tables/claude-job.table.js';
import { appendIdeaLogs } from '../../kinds/idea-logs.js';
import { ideaMachine, sprintRunMachine } from '../../machines/index.js';
import type { AppliedTransition } from '../transition-types.js';
import { type Cascade, type Door, inherited } from './cascade.js';
import { taskJobCascade } from './job-task.cascade.js';

const LIVE = ['QUEUED', 'CLAIMED', 'RUNNING'] as const;

export const claudeJobCascade: Cascade = async (trx, changes, door) => {
  for (const change of changes as readonly AppliedTransition<ClaudeJob>[]) {
    const job = change.row;
    const failed = (change.to === 'FAILED' || change.to === 'CANCELLED') && !change.context.retriedAs;
    const started = change.to === 'RUNNING';
    if (!failed && !started) continue;

    switch (job.kind) {
      case 'IDEA_GRILL':
        if (failed) await failIdea(trx, change, 'GRILLING', 'GRILL_FAILED', door);
        break;
      case 'IDEA_MAKE_PLAN':
        if (failed) await failIdea(trx, change, 'PLANNING', 'PLAN_FAILED', door);
        break;
      case 'PLAN_CHAT':
        break;
      case 'TASK_IMPLEMENTATION':
        await taskJobCascade(trx, change, door);
        break;
      case 'SPRINT_IMPLEMENTATION':
        await moveRun(trx, change, started, door);
        break;
    }
  }
};

function describe(change: AppliedTransition<ClaudeJob>): string {
  const job = change.row;
  const verb = change.to === 'CANCELLED' ? 'was cancelled' : change.to === 'RUNNING' ? 'started' : 'failed';
  return `${job.kind} job ${job.id} ${verb}`;
}

async function failIdea(
  trx: Trx,
  change: AppliedTransition<ClaudeJob>,
  from: 'GRILLING' | 'PLANNING',
  to: 'GRILL_FAILED' | 'PLAN_FAILED',
  door: Door,
): Promise<void> {
  const job = change.row;
  const idea = await trx
    .selectFrom('ideas')
    .select(['id', 'status'])
    .where('id', '=', job.idea_id!)
    .forUpdate()
    .executeTakeFirstOrThrow();
  if (idea.status !== from) return;
  const others = await trx
    .selectFrom('claude_jobs')
    .select('id')
    .where('idea_id', '=', idea.id)
    .where('kind', '=', job.kind)
    .where('status', 'in', LIVE)
    .where('id', '<>', job.id)
    .limit(1)
    .execute();
  if (others.length > 0) return;

  // A plan that did not parse is kept on the idea with its errors, for the author and the retry.
  const rejected = planRejection(job);
  await door.transition(trx, ideaMachine, {
    id: idea.id,
    from,
    to,
    trigger: rejected ? 'plan_rejected' : 'job_failed',
    ...(rejected ? { set: { plan_md: rejected.planMd, plan_errors: rejected.errors } } : {}),
    context: { ...inherited(change, rejected ? 'the plan did not parse' : describe(change)), artifacts: { job_id: job.id, error: job.error ?? null } },
  });
  await appendIdeaLogs(trx, [
    {
      ideaId: idea.id,
      type: 'JOB_EVENT',
      content: rejected ? `the plan did not parse:\n${rejected.errors.join('\n')}` : describe(change),
      data: { job_id: job.id, status: change.to, error: job.error ?? null },
      jobId: job.id,
    },
  ]);
}

function planRejection(job: ClaudeJob): { planMd: string | null; errors: string[] } | null {
  const error = job.error as { code?: string; details?: { errors?: string[] } } | null;
  if (job.kind !== 'IDEA_MAKE_PLAN' || error?.code !== 'plan_invalid') return null;
  const result = job.result as { text?: string } | null;
  return { planMd: result?.text ?? null, errors: error.details?.errors ?? [] };
}

async function moveRun(trx: Trx, change: AppliedTransition<ClaudeJob>, started: boolean, door: Door): Promise<void> {
  const job = change.row;
  // The run cancelled this job itself when it stopped: nothing more to do to it.
  if (change.hops.at(-1)!.trigger === 'run_stopped') return;
  const run = await trx
    .selectFrom('sprint_runs')
    .select(['id', 'status'])
    .where('id', '=', job.sprint_run_id!)
    .forUpdate()
    .executeTakeFirstOrThrow();
  const now = new Date().toISOString();
  if (started && run.status === 'QUEUED') {
    await door.transition(trx, sprintRunMachine, {
      id: run.id,
      from: 'QUEUED',
      to: 'RUNNING',
      trigger: 'worker_started',
      set: { started_at: now },
      context: inherited(change, describe(change)),
    });
  } else if (!started && (run.status === 'QUEUED' || run.status === 'RUNNING' || run.status === 'PAUSED')) {
    const cancelled = change.to === 'CANCELLED';
    await door.transition(trx, sprintRunMachine, {
      id: run.id,
      from: run.status,
      to: cancelled ? 'CANCELLED' : 'FAILED',
      trigger: cancelled ? 'user_cancels' : 'job_failed',
      set: { finished_at: now, error: describe(change) },
      context: inherited(change, describe(change)),
    });
  }
}
