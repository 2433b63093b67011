/**
 * What a job's change does to its subject (the kind's side effects that are not results): the
 * door runs this cascade, and it hands each change to the job's kind handler:
 * - started (RUNNING): `onStarted` (a task goes IN_PROGRESS, a sprint run RUNNING);
 * - failed or cancelled: `onFailed` (an idea goes GRILL_FAILED / PLAN_FAILED, a task or a run
 *   fails); a failure retried as a new job (context.retriedAs) leaves the subject where it is.
 * Results (grill_md, plan_md, REVIEW) are written by the kinds' `applyDone`, not here.
 * Whatever ends a job that asked a person something (ask_user) closes its questions still open:
 * nobody is waiting for their answer any more. Jobs that never asked cost nothing here.
 */
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { closeQuestions } from '../jobs/job-questions.js';
import type { KindHandler } from '../jobs/kind-handler.js';
import { claudeJobMachine } from '../machines/index.js';
import type { JobKind } from '../queues/kinds.js';
import { claudeJobStatus } from '../spelling/api-spelling.js';
import type { AppliedTransition, Cascade } from '../transitions/index.js';
import { groupBy } from '../util/group-by.js';

export function claudeJobCascade(handlers: { readonly [K in JobKind]: KindHandler<K> }): Cascade {
  return async (trx, changes, door) => {
    const jobs = changes as readonly AppliedTransition<ClaudeJob>[];
    const ended = (change: AppliedTransition<ClaudeJob>) => (claudeJobMachine.terminal as readonly string[]).includes(change.to);
    const askedAndEnded = jobs.filter((change) => change.row.has_questions && ended(change));
    for (const [to, group] of groupBy(askedAndEnded, (change) => change.row.status)) {
      await closeQuestions(
        trx,
        group.map((change) => change.row.id),
        `the job ended (${claudeJobStatus.toApi(to)})`,
      );
    }
    for (const change of jobs) {
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
