/**
 * An owner's lists filtered by ids read first and passed as constants: the owner's product ids,
 * and for rows that hang under a parent (stories, tasks, sprint runs, steps) the parents' ids
 * while the owner has at most PARENTS_AS_CONSTANTS of them.
 *
 * A list used to filter by `EXISTS (... JOIN products p ... WHERE p.owner_id = $1)`: the planner
 * cannot tell from that how many rows an owner has, so it planned alike for an owner holding
 * half a table and for one holding five rows: it walked the whole table in creation order for the
 * small one, or gathered and sorted every row of the big one. With constants it reads the column
 * statistics of the row's own product_id or parent column and picks per owner: the creation-order
 * index while the owner's rows are frequent, the product's or parent's index when they are rare.
 * Through a join (parent to product) it would judge a small owner by the average parent's size,
 * and a big owner's parents elsewhere make that average large (a small owner's page then read
 * every task); hence the parents' ids themselves, up to a bound.
 */
import { type RawBuilder, sql } from 'kysely';
import type { Executor } from '../db/database.js';
import type { OwnedEntity } from './ownership.js';
import { productIdsOf } from './product.repository.js';

/**
 * Above this many parents the owner is big, and the rows are filtered through the join instead
 * (the creation-order walk finds their rows soon); it bounds the statement's size.
 */
export const PARENTS_AS_CONSTANTS = 1000;

type Scoped = Exclude<OwnedEntity, 'CLAUDE_JOB' | 'PRODUCT'>;

/**
 * Rows with a product_id of their own, and for the others the parent column, the parents'
 * table and the join from the parent (aliased `x`) up to the product id.
 */
const PARENTS: Record<Scoped, { column: string; from: string; productColumn: string } | null> = {
  PBI: null,
  SPRINT: null,
  IDEA: null,
  STORY: { column: 'pbi_id', from: 'pbis x', productColumn: 'x.product_id' },
  TASK: { column: 'story_id', from: 'stories x JOIN pbis b ON b.id = x.pbi_id', productColumn: 'b.product_id' },
  SPRINT_RUN: { column: 'sprint_id', from: 'sprints x', productColumn: 'x.product_id' },
  STEP: { column: 'sprint_run_id', from: 'sprint_runs x JOIN sprints s ON s.id = x.sprint_id', productColumn: 's.product_id' },
};

/**
 * One id as an equality: `= ANY` of a one-element array is not an equality to the planner, and
 * an index led by the column then gives no order.
 */
const among = (ids: readonly string[]) => (ids.length === 1 ? sql`= ${ids[0]}::uuid` : sql`= ANY(${[...ids]}::uuid[])`);

/**
 * A WHERE condition on `table` (the entity's table, unaliased) keeping the owner's rows, or null
 * when the owner has none (no product, or no parent of this kind).
 */
export async function ownerScope(db: Executor, entity: Scoped, table: string, ownerId: string): Promise<RawBuilder<boolean> | null> {
  const productIds = await productIdsOf(db, ownerId);
  if (productIds.length === 0) return null;
  const parent = PARENTS[entity];
  if (parent === null) return sql<boolean>`${sql.ref(`${table}.product_id`)} ${among(productIds)}`;
  const { rows } = await sql<{ id: string }>`
    SELECT x.id FROM ${sql.raw(parent.from)} WHERE ${sql.raw(parent.productColumn)} ${among(productIds)} LIMIT ${PARENTS_AS_CONSTANTS + 1}
  `.execute(db);
  if (rows.length === 0) return null;
  const column = sql.ref(`${table}.${parent.column}`);
  if (rows.length <= PARENTS_AS_CONSTANTS) return sql<boolean>`${column} ${among(rows.map((row) => row.id))}`;
  return sql<boolean>`EXISTS (SELECT 1 FROM ${sql.raw(parent.from)} WHERE x.id = ${column} AND ${sql.raw(parent.productColumn)} ${among(productIds)})`;
}
