/**
 * Owners' daily budgets (SPEC "Provider limits and budgets"): what an owner may spend per UTC day
 * (their own row in owner_budgets, else OWNER_DAILY_BUDGET_USD, else nothing), and what their
 * jobs spent that day (owner_daily_spend, added as each job ends). An owner whose day is spent
 * may not enqueue (409 budget_exhausted) and their queued jobs wait; a running job's cost ceiling
 * is at most what was left of its owner's day when it started.
 */
import { sql } from 'kysely';
import type { Executor } from '../db/database.js';
import { AppError } from '../errors/app-error.js';
import { utcDay } from '../util/clock.js';

/** An owner's day: their budget (null: none), where it comes from, and what they spent. */
export interface OwnerDay {
  ownerId: string;
  dailyUsd: number | null;
  source: 'owner' | 'default' | 'none';
  day: string;
  spentUsd: number;
}

export const remainingOf = (owner: OwnerDay): number | null =>
  owner.dailyUsd === null ? null : Math.max(0, owner.dailyUsd - owner.spentUsd);

export const isSpent = (owner: OwnerDay): boolean => owner.dailyUsd !== null && owner.spentUsd >= owner.dailyUsd;

/** What enqueue and the worker need to judge owners' days. */
export interface BudgetDay {
  /** `YYYY-MM-DD` in UTC. */
  day: string;
  /** OWNER_DAILY_BUDGET_USD; null: owners without a budget of their own have none. */
  defaultDailyUsd: number | null;
}

export function budgetDay(at: Date, defaultDailyUsd: number | null | undefined): BudgetDay {
  return { day: utcDay(at), defaultDailyUsd: defaultDailyUsd ?? null };
}

/** An owner's budget and spend as read from owner_budgets and owner_daily_spend. */
export interface DayRow {
  owner_id: string;
  has_own: string | null;
  daily_usd: string | null;
  cost_usd: string | null;
}

export function dayOf(row: DayRow, { day, defaultDailyUsd }: BudgetDay): OwnerDay {
  const own = row.has_own !== null;
  const dailyUsd = own ? (row.daily_usd === null ? null : Number(row.daily_usd)) : defaultDailyUsd;
  const source = own ? 'owner' : defaultDailyUsd === null ? 'none' : 'default';
  return { ownerId: row.owner_id, dailyUsd, source, day, spentUsd: Number(row.cost_usd ?? 0) };
}

/** The days of these owners, in one query. */
export async function ownerDays(db: Executor, ownerIds: readonly string[], budget: BudgetDay): Promise<Map<string, OwnerDay>> {
  if (ownerIds.length === 0) return new Map();
  const { rows } = await sql<DayRow>`
    SELECT o.owner_id, b.owner_id AS has_own, b.daily_usd, s.cost_usd
    FROM unnest(${sql.val([...new Set(ownerIds)])}::text[]) AS o(owner_id)
    LEFT JOIN owner_budgets b ON b.owner_id = o.owner_id
    LEFT JOIN owner_daily_spend s ON s.owner_id = o.owner_id AND s.day = ${budget.day}::date
  `.execute(db);
  return new Map(rows.map((row) => [row.owner_id, dayOf(row, budget)]));
}

/** The days of the owners of these products, by product id, in one query. */
export async function productOwnerDays(db: Executor, productIds: readonly string[], budget: BudgetDay): Promise<Map<string, OwnerDay>> {
  if (productIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('products as p')
    .leftJoin('owner_budgets as b', 'b.owner_id', 'p.owner_id')
    .leftJoin('owner_daily_spend as s', (join) =>
      join.onRef('s.owner_id', '=', 'p.owner_id').on('s.day', '=', sql<string>`${budget.day}::date`),
    )
    .select(['p.id', 'p.owner_id', 'b.owner_id as has_own', 'b.daily_usd', 's.cost_usd'])
    .where('p.id', 'in', [...new Set(productIds)])
    .execute();
  return new Map(rows.map((row) => [row.id, dayOf(row, budget)]));
}

/** Refuses an enqueue for products whose owner has spent the day's budget (409 budget_exhausted). */
export async function refuseSpentOwners(db: Executor, productIds: readonly string[], budget: BudgetDay): Promise<void> {
  refuseSpent((await productOwnerDays(db, productIds, budget)).values());
}

/** Refuses (409 budget_exhausted) the first of these owners' days that is spent. */
export function refuseSpent(owners: Iterable<OwnerDay>): void {
  for (const owner of owners) {
    if (!isSpent(owner)) continue;
    throw new AppError(
      'budget_exhausted',
      `owner ${owner.ownerId} has spent the daily budget of ${owner.dailyUsd} USD for ${owner.day} (spent ${owner.spentUsd.toFixed(6)} USD); try again after 00:00 UTC or raise the budget`,
      { owner_id: owner.ownerId, day: owner.day, daily_usd: owner.dailyUsd, spent_usd: owner.spentUsd },
    );
  }
}

/** Adds what ended jobs cost to their owners' day, one statement for the batch. */
export async function addSpend(db: Executor, day: string, spends: readonly { productId: string; costUsd: number }[]): Promise<void> {
  const costly = spends.filter((spend) => spend.costUsd > 0);
  if (costly.length === 0) return;
  await sql`
    INSERT INTO owner_daily_spend (owner_id, day, cost_usd)
    SELECT p.owner_id, ${day}::date, sum(c.cost)
    FROM unnest(${sql.val(costly.map((spend) => spend.productId))}::uuid[], ${sql.val(costly.map((spend) => spend.costUsd))}::numeric[]) AS c(product_id, cost)
    JOIN products p ON p.id = c.product_id
    GROUP BY p.owner_id
    ORDER BY p.owner_id
    ON CONFLICT (owner_id, day) DO UPDATE SET cost_usd = owner_daily_spend.cost_usd + EXCLUDED.cost_usd
  `.execute(db);
}

/** Sets an owner's own daily budget (null: none, whatever the default); `undefined` removes it. */
export async function setOwnerBudget(db: Executor, ownerId: string, dailyUsd: number | null | undefined, actorTokenId: string | null) {
  if (dailyUsd === undefined) {
    await db.deleteFrom('owner_budgets').where('owner_id', '=', ownerId).execute();
    return;
  }
  await db
    .insertInto('owner_budgets')
    .values({ owner_id: ownerId, daily_usd: dailyUsd, updated_by_token_id: actorTokenId })
    .onConflict((oc) =>
      oc.column('owner_id').doUpdateSet({ daily_usd: dailyUsd, updated_by_token_id: actorTokenId, updated_at: sql`now()` }),
    )
    .execute();
}

/** Whether any owner has a budget row: without one and without a default, nobody's day is judged. */
export async function anyOwnerBudget(db: Executor): Promise<boolean> {
  const row = await db.selectFrom('owner_budgets').select(sql<number>`1`.as('one')).limit(1).executeTakeFirst();
  return row !== undefined;
}
