/**
 * The sweep's reconcile step: QUEUED jobs without a live queue entry (Redis lost its data, a crash
 * between commit and add, an add that failed) are added again.
 *
 * Checking every QUEUED job against Redis costs in proportion to the backlog, every sweep. So
 * every job is checked only when Redis may have lost data (src/sweeper/redis-loss.ts: a mark
 * missing, a master's run id changed, a check left unfinished) or when a full check is due
 * (RECONCILE_FULL_INTERVAL_MS, for what no signal tells: an entry removed by hand, a row that
 * committed later than the slack). Otherwise only the jobs that entered QUEUED since the last
 * check are (src/sweeper/queued-since.ts), with those whose delivery BullMQ gave up on since
 * (src/sweeper/given-up-deliveries.ts): a job seen present in Redis stays present until a worker
 * takes it, BullMQ gives up on it, or Redis loses it, and a loss is what the marks tell.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { isPostgresUnavailable } from '../db/postgres-unavailable.js';
import type { Logger } from '../logger.js';
import type { AddableJob, JobQueues } from '../queues/job-queues.js';
import { givenUpSince } from './given-up-deliveries.js';
import { DEFAULT_SLACK_MS, jobsQueuedSince, settledPosition } from './queued-since.js';
import { advanceMarks, beginFullCheck, type FullCheckReason, readCheckState } from './redis-loss.js';

/** Jobs checked against Redis per pipeline. */
const RECONCILE_CHUNK = 1_000;

export const DEFAULT_FULL_INTERVAL_MS = 3_600_000;

export interface ReconcileDeps {
  db: Db;
  queues: JobQueues;
  logger: Logger;
  /** QUEUED rows younger than this are left to their enqueuer's own add. */
  reconcileGraceMs: number;
  /**
   * RECONCILE_FULL_INTERVAL_MS: every QUEUED job is checked at least this often, loss or not.
   * @defaultValue 1 hour
   */
  reconcileFullIntervalMs?: number | undefined;
  /**
   * How late a job's entry into QUEUED may commit after it was written and still be checked by an
   * incremental step (src/sweeper/queued-since.ts).
   * @defaultValue 30 seconds
   */
  reconcileSlackMs?: number | undefined;
  /**
   * How many failed deliveries BullMQ keeps per queue: a failed set this full, all of it failed
   * since the last check, may have lost some to trimming (src/sweeper/given-up-deliveries.ts).
   * @defaultValue KEEP_FAILED.count
   */
  keepFailed?: number | undefined;
}

export interface Reconciled {
  readded: number;
  /** Why every QUEUED job was checked; null when only those new to QUEUED were. */
  fullCheck: FullCheckReason | null;
}

/** `force`: a reason to check every QUEUED job that the marks cannot know of. */
export async function reconcile(deps: ReconcileDeps, force: FullCheckReason | null = null): Promise<Reconciled> {
  const result: Reconciled = { readded: 0, fullCheck: null };
  // Positions stay behind the grace too: a job skipped as too young is seen by a later step.
  const behindMs = Math.max(deps.reconcileGraceMs, deps.reconcileSlackMs ?? DEFAULT_SLACK_MS);
  try {
    const state = await readCheckState(deps.queues, deps.reconcileFullIntervalMs ?? DEFAULT_FULL_INTERVAL_MS);
    const full = state.full ?? force;
    if (full !== null) {
      const check = await beginFullCheck(deps.queues, state.runIds);
      // Said once the marks say `checking`: from here, a check cut short is taken up by the next sweep.
      result.fullCheck = full;
      // Taken before the jobs are read: every entry into QUEUED up to it is older than what they show.
      const upTo = await settledPosition(deps.db, '0', behindMs);
      await eachQueuedChunk(deps.db, deps.reconcileGraceMs, (jobs) => addMissing(deps.queues, jobs, result));
      await check.finish(upTo);
    } else if (state.full === null) {
      const checkedAt = Date.now();
      const givenUp = await givenUpSince(deps.db, deps.queues, {
        sinceMs: state.checkedAt - behindMs,
        graceMs: deps.reconcileGraceMs,
        keepFailed: deps.keepFailed,
      });
      if (givenUp.trimmed) return await reconcile(deps, 'given_up_trimmed');
      const upTo = await settledPosition(deps.db, state.upTo, behindMs);
      await addMissing(deps.queues, await jobsQueuedSince(deps.db, state.upTo, deps.reconcileGraceMs), result);
      await addMissing(deps.queues, givenUp.jobs, result);
      await advanceMarks(deps.queues, state.marks, upTo, checkedAt);
    }
  } catch (error) {
    if (isPostgresUnavailable(error)) throw error;
    // Nothing is marked as checked: the next sweep checks again from where the last check ended.
    deps.logger.warn({ err: (error as Error).message }, 'reconcile stopped: Redis did not answer; the next sweep tries again');
  }
  return result;
}

/**
 * Every QUEUED job older than the grace, through one cursor: the plan and the snapshot of a single
 * read of them (a sequential scan at a large backlog), fetched RECONCILE_CHUNK rows at a time, so
 * a full check holds one chunk in memory, not the whole backlog. Paging along the queued index
 * instead read the table in subject order, a random page per job: at a million queued jobs the
 * check took twice as long. The read-only transaction stays open while the chunks go to Redis.
 */
async function eachQueuedChunk(db: Db, graceMs: number, each: (jobs: AddableJob[]) => Promise<void>): Promise<void> {
  await db.transaction().execute(async (trx) => {
    // A cursor's query takes no parameters: the grace is a whole number of milliseconds, from config.
    await sql`
      DECLARE reconcile_queued NO SCROLL CURSOR FOR
      SELECT id, kind, requeue_count, turn FROM claude_jobs
      WHERE status = 'QUEUED' AND created_at < now() - ${sql.raw(String(Math.trunc(graceMs)))} * interval '1 millisecond'
    `.execute(trx);
    for (;;) {
      const { rows } = await sql<AddableJob>`FETCH ${sql.raw(String(RECONCILE_CHUNK))} FROM reconcile_queued`.execute(trx);
      if (rows.length > 0) await each(rows);
      if (rows.length < RECONCILE_CHUNK) return;
    }
  });
}

/** Adds the jobs without a live entry, counting them as it goes (a later chunk may fail). */
async function addMissing(queues: JobQueues, jobs: readonly AddableJob[], result: Reconciled): Promise<void> {
  for (let start = 0; start < jobs.length; start += RECONCILE_CHUNK) {
    const missing = await queues.missing(jobs.slice(start, start + RECONCILE_CHUNK));
    await queues.add(missing);
    result.readded += missing.length;
  }
}
