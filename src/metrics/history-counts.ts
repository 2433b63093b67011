/**
 * jobfleet_transitions_total: the history rows by entity and the status entered, counted without
 * reading the whole history at each scrape. The history is append-only and its ids grow, so the
 * rows up to a settled id are counted once and kept; each read counts only the rows after it.
 *
 * The settled id lags: a row's id is taken when it is inserted, but the row is seen only when its
 * transaction commits, so a row with a smaller id may appear after larger ones. The line moves
 * only over rows older than SETTLE_MS, and a jobfleet transaction that writes history stays open
 * far less than that; rows after the line are counted afresh at each read. So a read costs the
 * rows of the last SETTLE_MS and those written since the previous read, not the whole history:
 * only the first read of a process counts everything (once).
 *
 * A counter per process, as Prometheus expects: rows that retention deletes later stay counted
 * here; a process started after they were deleted counts the rows it finds (a counter reset).
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { EntityType } from '../machines/index.js';

export const SETTLE_MS = 60_000;

export interface HistoryCount {
  entity: EntityType;
  status: string;
  count: number;
}

export interface HistoryCounts {
  /** Every history row by entity and status entered (concurrent reads: call through scrapeRead). */
  read(): Promise<HistoryCount[]>;
}

export function createHistoryCounts(db: Db, settleMs = SETTLE_MS): HistoryCounts {
  let settledThrough = '0';
  const settled = new Map<string, number>();
  const keyOf = (entity: string, status: string) => `${entity}\u0000${status}`;

  // Reads one at a time: two folding at once would add the same settled rows twice.
  let inFlight: Promise<HistoryCount[]> | null = null;
  const read = async (): Promise<HistoryCount[]> => {
    const line = await sql<{ id: string | null }>`
        SELECT max(id)::text AS id FROM transitions
        WHERE id > ${settledThrough}::bigint AND created_at < now() - ${settleMs} * interval '1 millisecond'
      `.execute(db);
    const nextLine = line.rows[0]?.id ?? settledThrough;
    const { rows } = await sql<{ entity_type: string; to_status: string; settled: string; all: string }>`
        SELECT entity_type, to_status,
          count(*) FILTER (WHERE id <= ${nextLine}::bigint) AS settled, count(*) AS all
        FROM transitions WHERE id > ${settledThrough}::bigint
        GROUP BY entity_type, to_status
      `.execute(db);
    const totals = new Map(settled);
    for (const row of rows) {
      const key = keyOf(row.entity_type, row.to_status);
      settled.set(key, (settled.get(key) ?? 0) + Number(row.settled));
      totals.set(key, (totals.get(key) ?? 0) + Number(row.all));
    }
    settledThrough = nextLine;
    return [...totals].map(([key, count]) => {
      const [entity, status] = key.split('\u0000') as [EntityType, string];
      return { entity, status, count };
    });
  };
  return {
    read() {
      inFlight ??= read().finally(() => {
        inFlight = null;
      });
      return inFlight;
    },
  };
}
