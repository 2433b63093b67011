/**
 * The sweep's supersede step: a QUEUED job with a newer QUEUED job of the same kind and subject is
 * SKIPPED.
 *
 * An enqueue supersedes the older QUEUED jobs of its subjects itself, in its own transaction
 * (src/jobs/insert-job-rows.ts); what it cannot see is a racing enqueue of the same subject that
 * has not committed yet, and each of two such enqueues may miss the other. So the sweep needs to
 * settle only subjects with a job that entered QUEUED since its last settle: two racing jobs are
 * both new by definition, and an older pair was settled when the newer of them entered. (A stale
 * claim's requeue counts as an entry too: it may bring back a job older than one enqueued since.)
 *
 * Where the last settle stopped (a history position, src/sweeper/queued-since.ts) is kept in
 * Redis beside the queues; only Postgres is read to settle, so losing that key costs nothing but
 * one settle of every QUEUED job, as does a full settle every RECONCILE_FULL_INTERVAL_MS. While
 * Redis does not answer, the position is unknown rather than lost: the settle waits for Redis to
 * answer again (nothing is delivered meanwhile, and the enqueues still supersede for themselves),
 * instead of reading every QUEUED job at each sweep of an outage, when the backlog grows.
 */
import { sql } from 'kysely';
import type { Db, Executor } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { claudeJobMachine } from '../machines/index.js';
import type { JobQueues } from '../queues/job-queues.js';
import { transitionMany } from '../transitions/index.js';
import { DEFAULT_SLACK_MS, settledPosition, subjectsQueuedSince } from './queued-since.js';

export interface SupersedeDeps {
  db: Db;
  queues: JobQueues;
  /** Every QUEUED job is settled at least this often (RECONCILE_FULL_INTERVAL_MS). */
  fullIntervalMs: number;
  /** How late an entry into QUEUED may commit and still be settled by the next step. */
  slackMs?: number | undefined;
}

/** Where the last settle stopped, and when the last settle of every QUEUED job began. */
interface Settled {
  upTo: string;
  fullAt: number;
}

/** Older QUEUED jobs and the newest of their kind and subject. */
type Superseded = { id: string; newer: string }[];

export async function skipSuperseded(deps: SupersedeDeps): Promise<number> {
  const key = `${deps.queues.prefix}:sweep:superseded`;
  const startedAt = Date.now();
  const last = await readSettled(deps.queues, key);
  if (last === unanswered) return 0;
  const full = last === null || startedAt - last.fullAt >= deps.fullIntervalMs;
  // Taken before the jobs are read, as reconcile's position is.
  const upTo = await settledPosition(deps.db, full ? '0' : last.upTo, deps.slackMs ?? DEFAULT_SLACK_MS);
  const skipped = await deps.db.transaction().execute(async (trx) => {
    const older = full ? await everyOlder(trx) : await olderOf(trx, await subjectsQueuedSince(trx, last.upTo));
    const { applied } = await transitionMany(
      trx,
      claudeJobMachine,
      older.map((row) => ({
        id: row.id,
        from: 'QUEUED' as const,
        to: 'SKIPPED' as const,
        set: { finished_at: new Date().toISOString() },
        context: { reason: `superseded by job ${row.newer}` },
      })),
    );
    return applied.map((change) => change.row as ClaudeJob);
  });
  await deps.queues.remove(skipped).catch(() => undefined);
  const next: Settled = { upTo, fullAt: full ? startedAt : last.fullAt };
  await deps.queues.connection.set(key, JSON.stringify(next)).catch(() => undefined);
  return skipped.length;
}

const unanswered = Symbol('Redis did not answer');

/** The last settle's position; null (settle everything) when Redis lost it or it does not parse. */
async function readSettled(queues: JobQueues, key: string): Promise<Settled | null | typeof unanswered> {
  let value: string | null;
  try {
    value = await queues.connection.get(key);
  } catch {
    return unanswered;
  }
  try {
    return value === null ? null : (JSON.parse(value) as Settled);
  } catch {
    return null;
  }
}

/** Every QUEUED job but the newest of its kind and subject. */
async function everyOlder(db: Executor): Promise<Superseded> {
  const { rows } = await sql<{ id: string; newer: string }>`
    SELECT id, newer FROM (
      SELECT id, first_value(id) OVER (PARTITION BY kind, subject_id ORDER BY created_at DESC, id DESC) AS newer
      FROM claude_jobs WHERE status = 'QUEUED'
    ) AS queued
    WHERE id <> newer
  `.execute(db);
  return rows;
}

/**
 * The same for these pairs only. Their QUEUED jobs come from the enqueue's own probe
 * (jobfleet_queued_older, migration 0015: through the queued index, whatever the statistics say),
 * given no job to leave out; the newest of each pair is then told apart among those few rows.
 */
async function olderOf(db: Executor, pairs: readonly { kind: string; subject_id: string }[]): Promise<Superseded> {
  if (pairs.length === 0) return [];
  const { rows } = await sql<{ id: string; newer: string }>`
    SELECT id, newer FROM (
      SELECT j.id, first_value(j.id) OVER (PARTITION BY j.kind, j.subject_id ORDER BY j.created_at DESC, j.id DESC) AS newer
      FROM claude_jobs j
      WHERE j.status = 'QUEUED' AND j.id IN (
        SELECT older_id FROM jobfleet_queued_older(
          ${pairs.map((pair) => pair.kind)}::text[],
          ${pairs.map((pair) => pair.subject_id)}::uuid[],
          array_fill('00000000-0000-0000-0000-000000000000'::uuid, ARRAY[${pairs.length}::int])
        )
      )
    ) AS queued
    WHERE id <> newer
  `.execute(db);
  return rows;
}
