/**
 * Workers rows of processes stopped more than JOB_RETENTION_DAYS ago: a row is written per worker
 * process ever started, and nothing else deletes them. The fleet's pages read the last 24 hours
 * and the series at most 8 days, so such a row is read by nothing.
 *
 * A worker that still holds a job on its lease stays: the lease logic judges a job whose worker
 * row is missing as lapsed (src/jobs/worker-lease.ts), and the sweep fails it in its own time.
 * (A job with a lease of its own, pull mode, is judged by that lease, not by its worker's row.)
 * The rows are read by primary key from where the last batch stopped, from the start again once
 * the end is reached, so a sweep reads a batch whatever the table's size.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { FIRST_UUID, readCursor, writeCursor } from './retention-cursors.js';

export async function forgetStoppedWorkers(db: Db, days: number, batch: number): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const after = (await readCursor(trx, 'workers')) ?? FIRST_UUID;
    const scanned = await trx.selectFrom('workers').select('id').where('id', '>', after).orderBy('id').limit(batch).execute();
    const ids = scanned.map((row) => row.id);
    let deleted = 0;
    if (ids.length > 0) {
      // The held test matches claude_jobs_worker_held_idx's predicate: a probe, not a scan.
      const result = await sql`
        DELETE FROM workers AS w
        WHERE w.id = ANY(${ids}::uuid[]) AND w.stopped_at < now() - ${days} * interval '1 day'
          AND NOT EXISTS (
            SELECT 1 FROM claude_jobs AS j
            WHERE j.claimed_by_worker_id = w.id AND j.status IN ('CLAIMED', 'RUNNING') AND j.lease_expires_at IS NULL
          )
      `.execute(trx);
      deleted = Number(result.numAffectedRows ?? 0);
    }
    const next = ids.length < batch ? FIRST_UUID : ids.at(-1)!;
    if (next !== after) await writeCursor(trx, 'workers', next);
    return deleted;
  });
}
