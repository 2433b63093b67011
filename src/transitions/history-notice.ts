/**
 * Every statement that writes history rows also raises a Postgres notification naming them (as
 * the range of their ids). Postgres delivers it only when the transaction commits, and in commit
 * order, so the event relay (src/events/event-relay.ts) publishes exactly what was committed,
 * never what was rolled back.
 */
import { type RawBuilder, sql } from 'kysely';

export const HISTORY_CHANNEL = 'jobfleet_history';

/** A select-list item that notifies the ids of `cte` (a CTE of history rows with an `id` column). */
export function notifyHistory(cte: string): RawBuilder<unknown> {
  const rows = sql.table(cte);
  return sql`(SELECT CASE WHEN count(*) > 0 THEN pg_notify(${HISTORY_CHANNEL}, min(id)::text || ':' || max(id)::text) END FROM ${rows})`;
}
