/**
 * QUEUED jobs whose delivery BullMQ gave up on since a time: a claim that could not reach Postgres
 * fails its delivery, and after its last attempt the delivery lies among the queue's failed jobs
 * while the row stays QUEUED. Nothing is written to Postgres then (it was out of reach), so neither
 * the history an incremental check reads nor a mark tells of it: a worker cut off from Postgres
 * while the sweeper is not would leave such jobs waiting for the hourly full check.
 *
 * The failed set is read newest first and only back to the time given, so a check costs the
 * deliveries that failed since the last one (bounded anyway by what BullMQ keeps, KEEP_FAILED).
 * Most of them are deliveries of jobs that really failed: only rows still QUEUED are returned.
 */
import type { Db } from '../db/database.js';
import type { AddableJob, JobQueues } from '../queues/job-queues.js';

/** Failed deliveries read per call. */
const PAGE = 200;
/** Rows looked up per statement. */
const LOOKUP = 1_000;

export async function givenUpSince(db: Db, queues: JobQueues, sinceMs: number): Promise<AddableJob[]> {
  const ids = new Set<string>();
  for (const queue of queues.all()) {
    for (let start = 0; ; start += PAGE) {
      const page = await queue.getJobs(['failed'], start, start + PAGE - 1, false);
      for (const delivery of page) {
        if ((delivery.finishedOn ?? 0) >= sinceMs && typeof delivery.data?.id === 'string') ids.add(delivery.data.id);
      }
      const oldest = page.at(-1);
      if (page.length < PAGE || oldest === undefined || (oldest.finishedOn ?? 0) < sinceMs) break;
    }
  }
  const wanted = [...ids];
  const found: AddableJob[] = [];
  for (let start = 0; start < wanted.length; start += LOOKUP) {
    found.push(
      ...(await db
        .selectFrom('claude_jobs')
        .select(['id', 'kind', 'requeue_count', 'turn'])
        .where('id', 'in', wanted.slice(start, start + LOOKUP))
        .where('status', '=', 'QUEUED')
        .execute()),
    );
  }
  return found;
}
