/**
 * Keyset pagination, newest first, over (created_at, id). Positions carry created_at in
 * microseconds, as Postgres stores it: a JS Date holds only milliseconds, and rows created in the
 * same millisecond would otherwise be skipped or repeated across pages.
 */
import { type SelectQueryBuilder, sql } from 'kysely';
import { isUuidShape } from '../util/uuid.js';

export interface PagePosition {
  createdMicros: string;
  id: string;
}

export interface Page {
  limit: number;
  after?: PagePosition | undefined;
}

export interface PageOf<T> {
  items: T[];
  next: PagePosition | null;
}

/** A position this API handed out: microseconds that fit a bigint (and a sane date), and a UUID. */
export function isPagePosition(value: unknown): value is PagePosition {
  const v = value as PagePosition;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.createdMicros === 'string' &&
    /^\d{1,17}$/.test(v.createdMicros) &&
    typeof v.id === 'string' &&
    isUuidShape(v.id)
  );
}

/** Runs `query` (rows of `table`, which must have id and created_at) for one page. */
export async function fetchPage<DB, TB extends keyof DB & string, O extends { id: string }>(
  query: SelectQueryBuilder<DB, TB, O>,
  table: string,
  page: Page,
): Promise<PageOf<O>> {
  const createdAt = sql.ref(`${table}.created_at`);
  const id = sql.ref(`${table}.id`);
  let q = query.select(
    sql<string>`(extract(epoch from ${createdAt}) * 1000000)::bigint`.as('__created_micros') as never,
  ) as unknown as SelectQueryBuilder<DB, TB, O & { __created_micros: string }>;
  if (page.after) {
    q = q.where(
      sql<boolean>`(${createdAt}, ${id}) < (timestamptz 'epoch' + ${page.after.createdMicros}::bigint * interval '1 microsecond', ${page.after.id}::uuid)`,
    );
  }
  const rows = await q
    .orderBy(createdAt, 'desc')
    .orderBy(id, 'desc')
    .limit(page.limit + 1)
    .execute();
  const items = rows.slice(0, page.limit);
  const last = items.at(-1);
  return {
    items: items.map(({ __created_micros: _, ...row }) => row as unknown as O),
    next: rows.length > page.limit && last ? { createdMicros: last.__created_micros, id: last.id } : null,
  };
}
