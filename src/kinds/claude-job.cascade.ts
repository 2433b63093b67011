/**
 * What a job's change does to its subject (the kind's side effects that are not results): the
 * door runs this cascade, and it hands each change to the job's kind handler:
 * - started (RUNNING): `onStarted` (a task goes IN_PROGRESS, a sprint run RUNNING);
 * - failed or cancelled: `onFailed` (an idea goes GRILL_FAILED / PLAN_FAILED, a task or a run
 *   fails); a failure retried as a new job (context.retriedAs) leaves the subject where it is.
 * Results (grill_md, plan_md, REVIEW) are written by the kinds' `applyDone`, not here.
 */
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import type { KindHandler } from '../jobs/kind-handler.js';
import type { JobKind } from '../queues/kinds.js';
import type { AppliedTransition, Cascade } from '../transitions/index.js';

export function claudeJobCascade(handlers: { readonly [K in JobKind]: KindHandler<K> }): Cascade {
  return async (trx, changes, door) => {
    for (const change of changes as readonly AppliedTransition<ClaudeJob>[]) {
      const handler = handlers[change.row.kind] as KindHandler;
      const failed = (change.to === 'FAILED' || change.to === 'CANCELLED') && !change.context.retriedAs;
      if (change.to === 'RUNNING') await handler.onStarted?.(trx, change, door);
      else if (failed) await handler.onFailed?.(trx, change, door);
    }
  };
}

/** How history and logs name a job's change: "IDEA_GRILL job <id> failed". */
export function describeJobChange(change: AppliedTransition<ClaudeJob>): string {
  const job = change.row;
  const verb = change.to === 'CANCELLED' ? 'was cancelled' : change.to === 'RUNNING' ? 'started' : 'failed';
  return `${job.kind} job ${job.id} ${verb}`;
}
