/**
 * Job history older than HISTORY_RETENTION_DAYS, deleted while its job may still be kept.
 *
 * The walk goes along transitions' primary key from the last id it judged, a batch of rows per
 * sweep, and stops at the first row still young: ids grow with created_at (both are taken as the
 * row is written, and its transaction ended long before the row is old), so everything before the
 * cursor is judged and nothing is read twice. Backlog
 * history (every entity type but CLAUDE_JOB) is passed over and kept. A replay of the event stream
 * reads `id > after`, so an id that is gone leaves no hole a client could fall into.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { readCursor, writeCursor } from './retention-cursors.js';

export async function ageOutJobHistory(db: Db, days: number, batch: number): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const after = (await readCursor(trx, 'transitions')) ?? '0';
    const { rows } = await sql<{ id: string; tid: string; entity_type: string; old: boolean }>`
      SELECT id, ctid::text AS tid, entity_type, created_at < now() - ${days} * interval '1 day' AS old
      FROM transitions WHERE id > ${after}::bigint ORDER BY id LIMIT ${batch}
    `.execute(trx);
    const young = rows.findIndex((row) => !row.old);
    const judged = young === -1 ? rows : rows.slice(0, young);
    const last = judged.at(-1);
    if (!last) return 0;
    const doomed = judged.filter((row) => row.entity_type === 'CLAUDE_JOB');
    // By the ctid just read (history rows are never updated): a TID scan, whatever the planner
    // would estimate for thousands of ids.
    const deleted =
      doomed.length === 0
        ? 0
        : (
            await sql`
              DELETE FROM transitions
              WHERE ctid = ANY(${doomed.map((row) => row.tid)}::tid[]) AND id = ANY(${doomed.map((row) => row.id)}::bigint[])
            `.execute(trx)
          ).numAffectedRows;
    await writeCursor(trx, 'transitions', last.id);
    return Number(deleted ?? 0);
  });
}
