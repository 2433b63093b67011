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
 *
 * BullMQ keeps only the newest KEEP_FAILED.count failed deliveries of a queue: a worker cut off
 * from Postgres with a backlog can exhaust more than that between two checks, and those trimmed
 * away leave no trace at all. A failed set read to its end, as full as BullMQ keeps it, and with
 * nothing older than the time given is told as `trimmed`: reconcile then checks every QUEUED job.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { type AddableJob, type JobQueues, KEEP_FAILED } from '../queues/job-queues.js';

/** Failed deliveries read per call. */
const PAGE = 200;
/** Rows looked up per statement. */
const LOOKUP = 1_000;

export interface GivenUp {
  /** The QUEUED jobs among the deliveries given up on since the time. */
  jobs: AddableJob[];
  /** Whether BullMQ may have trimmed some given up on since: their rows are then not among `jobs`. */
  trimmed: boolean;
}

export interface GivenUpOptions {
  /** Deliveries that failed from this time on (ms since the epoch). */
  sinceMs: number;
  /**
   * RECONCILE_GRACE_MS: rows younger than this are left alone, as by every reconcile. The caller's
   * `sinceMs` reaches at least this far back, so such a row is looked at again once it is older.
   */
  graceMs: number;
  /** How many failed deliveries BullMQ keeps per queue. @defaultValue KEEP_FAILED.count */
  keepFailed?: number | undefined;
}

export async function givenUpSince(
  db: Db,
  queues: JobQueues,
  { sinceMs, graceMs, keepFailed = KEEP_FAILED.count }: GivenUpOptions,
): Promise<GivenUp> {
  const ids = new Set<string>();
  let trimmed = false;
  for (const queue of queues.all()) {
    for (let start = 0; ; start += PAGE) {
      const page = await queue.getJobs(['failed'], start, start + PAGE - 1, false);
      for (const delivery of page) {
        if ((delivery.finishedOn ?? 0) >= sinceMs && typeof delivery.data?.id === 'string') ids.add(delivery.data.id);
      }
      const oldest = page.at(-1);
      if (oldest !== undefined && (oldest.finishedOn ?? 0) < sinceMs) break;
      if (page.length < PAGE) {
        // The whole set failed since the last check: if it is as full as BullMQ keeps it, older ones may be gone.
        if (start + page.length >= keepFailed) trimmed = true;
        break;
      }
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
        .where('created_at', '<', sql<Date>`now() - ${graceMs} * interval '1 millisecond'`)
        .execute()),
    );
  }
  return { jobs: found, trimmed };
}
