/**
 * An owner's lists filtered by the owner's product ids, read first and passed as constants.
 *
 * A list used to filter by `EXISTS (... JOIN products p ... WHERE p.owner_id = $1)`: the planner
 * cannot tell from that how many rows an owner has, so it planned the same for an owner holding
 * half a table and for one holding five rows, and either walked the whole table in creation order
 * for the small owner or gathered and sorted every row of the big one. With the product ids as
 * constants it reads the column statistics of `product_id` (on the row, or on the parent that
 * carries it) and picks per owner: the creation-order index while the owner's rows are frequent,
 * the parents' indexes when they are rare.
 */
import { type RawBuilder, sql } from 'kysely';
import type { Executor } from '../db/database.js';
import type { OwnedEntity } from './ownership.js';

/** The ids of the owner's products (an owner has a handful). */
export async function ownedProductIds(db: Executor, ownerId: string): Promise<string[]> {
  const rows = await db.selectFrom('products').select('id').where('owner_id', '=', ownerId).execute();
  return rows.map((row) => row.id);
}

type Scoped = Exclude<OwnedEntity, 'CLAUDE_JOB' | 'PRODUCT'>;

/**
 * From a row of each entity's table up to the column holding its product id: the table itself
 * when it has one, else the parents (aliased as in the chains of ownership.ts) to join.
 */
const PATHS: Record<Scoped, { from: string | null; productColumn: string; link: string }> = {
  PBI: { from: null, productColumn: 'product_id', link: '' },
  SPRINT: { from: null, productColumn: 'product_id', link: '' },
  IDEA: { from: null, productColumn: 'product_id', link: '' },
  STORY: { from: 'pbis b', productColumn: 'b.product_id', link: 'b.id = {t}.pbi_id' },
  TASK: { from: 'stories s JOIN pbis b ON b.id = s.pbi_id', productColumn: 'b.product_id', link: 's.id = {t}.story_id' },
  SPRINT_RUN: { from: 'sprints s', productColumn: 's.product_id', link: 's.id = {t}.sprint_id' },
  STEP: { from: 'sprint_runs r JOIN sprints s ON s.id = r.sprint_id', productColumn: 's.product_id', link: 'r.id = {t}.sprint_run_id' },
};

/** A WHERE condition on `table` (the entity's table, unaliased): the row hangs under one of `productIds`. */
export function underProducts(entity: Scoped, table: string, productIds: readonly string[]): RawBuilder<boolean> {
  const path = PATHS[entity];
  // One product (the usual case) as an equality: `= ANY` of a one-element array is not an
  // equality to the planner, and the (product_id, created_at) index then gives no order.
  const match = productIds.length === 1 ? sql`= ${productIds[0]}::uuid` : sql`= ANY(${[...productIds]}::uuid[])`;
  if (path.from === null) return sql<boolean>`${sql.ref(`${table}.${path.productColumn}`)} ${match}`;
  return sql<boolean>`EXISTS (SELECT 1 FROM ${sql.raw(path.from)} WHERE ${sql.raw(path.link.replaceAll('{t}', table))} AND ${sql.raw(path.productColumn)} ${match})`;
}
