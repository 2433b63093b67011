/**
 * The jobs that entered QUEUED since a position in the history, found without reading every
 * QUEUED job: every status change, a job's creation included, writes a `transitions` row through
 * the one door (src/transitions), whose identity id grows with each. A creation, a stale claim's
 * requeue, a give-back, a provider limit's give-back: whatever sets QUEUED leaves a row there with
 * `to_status = 'QUEUED'`. So the jobs new to QUEUED since position P are the history rows past P,
 * read by primary-key range, joined to their still-QUEUED jobs. The hot path pays nothing for it:
 * it writes these rows anyway, and no index is added to claude_jobs.
 *
 * Rows commit out of id order (an id is taken at the insert, a long transaction commits later), so
 * a position is never moved past rows written less than a slack ago: a row that commits later
 * than that after it was written (and whose own add to Redis failed too) waits for the next full
 * check instead (RECONCILE_FULL_INTERVAL_MS).
 */
import { sql } from 'kysely';
import type { Executor } from '../db/database.js';
import type { JobKind } from '../job-kinds.js';

/** How late a history row may commit after it was written and still be found by the next incremental step. */
export const DEFAULT_SLACK_MS = 30_000;

/**
 * The position the next step may start from: the newest history row past `from` written more
 * than `behindMs` ago (`from` itself when there is none). Read backwards from the table's end
 * through the primary key, so it costs the rows written within `behindMs`, whatever the table holds.
 */
export async function settledPosition(db: Executor, from: string, behindMs: number): Promise<string> {
  const { rows } = await sql<{ id: string }>`
    SELECT id FROM transitions
    WHERE id > ${from}::bigint AND created_at < now() - ${behindMs} * interval '1 millisecond'
    ORDER BY id DESC LIMIT 1
  `.execute(db);
  return rows[0]?.id ?? from;
}

/** Entries into QUEUED past `from` (the history rows of the range, read by primary key). */
const enteredQueued = (from: string) => sql`
  transitions t JOIN claude_jobs j ON j.id = t.entity_id
  WHERE t.id > ${from}::bigint AND t.entity_type = 'CLAUDE_JOB' AND t.to_status = 'QUEUED' AND j.status = 'QUEUED'
`;

export interface QueuedJob {
  id: string;
  kind: JobKind;
  requeue_count: number;
  turn: number;
}

/** Jobs still QUEUED that entered QUEUED past `from`, more than `graceMs` ago (younger ones are left to their own add). */
export async function jobsQueuedSince(db: Executor, from: string, graceMs: number): Promise<QueuedJob[]> {
  const { rows } = await sql<QueuedJob>`
    SELECT DISTINCT j.id, j.kind, j.requeue_count, j.turn FROM ${enteredQueued(from)}
      AND t.created_at < now() - ${graceMs} * interval '1 millisecond'
  `.execute(db);
  return rows;
}

/** The (kind, subject) pairs of jobs still QUEUED that entered QUEUED past `from`. */
export async function subjectsQueuedSince(db: Executor, from: string): Promise<{ kind: JobKind; subject_id: string }[]> {
  const { rows } = await sql<{ kind: JobKind; subject_id: string }>`
    SELECT DISTINCT j.kind, j.subject_id FROM ${enteredQueued(from)}
  `.execute(db);
  return rows;
}
