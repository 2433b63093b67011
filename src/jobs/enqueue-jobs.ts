/**
 * Enqueue: insert the job rows (QUEUED) and the subject transitions they imply in one
 * transaction, commit, and only then add the ids to their queues. The caller may answer 202 as
 * soon as this returns: the rows are durable. When Redis cannot take the ids, the jobs are still
 * accepted; the sweeper's reconcile adds every QUEUED row that has no queue entry.
 */
import type { Db, Trx } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { installedHandlerOf as handlerOf } from './installed-kinds.js';
import type { Logger } from '../logger.js';
import type { JobQueues } from '../queues/job-queues.js';
import { groupBy } from '../util/group-by.js';
import { type EnqueueContext, type EnqueueRequest, type InsertedJobs, insertJobRows } from './insert-job-rows.js';

export { type EnqueueContext, type EnqueueRequest, type InsertedJobs, MAX_BATCH } from './insert-job-rows.js';

export interface EnqueueDeps {
  db: Db;
  queues: JobQueues;
  logger: Logger;
}

export async function enqueueJobs(deps: EnqueueDeps, requests: readonly EnqueueRequest[], context: EnqueueContext): Promise<ClaudeJob[]> {
  const inserted = await deps.db.transaction().execute((trx) => insertJobs(trx, requests, context));
  await queueInserted(deps, inserted);
  return inserted.created;
}

/** The half of enqueue that follows the commit: the new jobs onto their queues, the superseded off. */
export async function queueInserted(deps: EnqueueDeps, { created, superseded }: InsertedJobs): Promise<void> {
  await addToQueues(
    deps,
    created.filter((job) => job.status === 'QUEUED'),
  );
  await deps.queues.remove(superseded).catch(() => undefined);
}

/** The transactional half of enqueue, with the kinds' subject transitions (idea DRAFT -> GRILLING). */
export async function insertJobs(trx: Trx, requests: readonly EnqueueRequest[], context: EnqueueContext): Promise<InsertedJobs> {
  return insertJobRows(trx, requests, context, async (trx_, rows) => {
    for (const [kind, jobs] of groupBy(rows, (row) => row.kind)) await handlerOf(kind).onEnqueue(trx_, jobs, context);
  });
}

export async function addToQueues(deps: Pick<EnqueueDeps, 'queues' | 'logger'>, jobs: readonly ClaudeJob[]): Promise<void> {
  try {
    await deps.queues.add(jobs);
  } catch (error) {
    deps.logger.warn(
      { err: (error as Error).message, jobs: jobs.length },
      'jobs committed but not queued; the sweeper will queue them when Redis is back',
    );
  }
}
