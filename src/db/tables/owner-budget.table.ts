import type { ColumnType } from 'kysely';
import type { Timestamp } from '../column-types.js';

/** numeric(14,6): pg returns it as a string. */
type Dollars = ColumnType<string, number | string, number | string>;

/** An admin's daily budget for one owner, over OWNER_DAILY_BUDGET_USD; null daily_usd: none. */
export interface OwnerBudgetTable {
  owner_id: string;
  daily_usd: ColumnType<string | null, number | string | null, number | string | null>;
  updated_by_token_id: string | null;
  updated_at: Timestamp;
}

/** What each owner's jobs cost per UTC day, added as jobs end. */
export interface OwnerDailySpendTable {
  owner_id: string;
  /** `YYYY-MM-DD`; pg returns a date column as a Date unless told otherwise, so it is read as text. */
  day: ColumnType<string, string, string>;
  cost_usd: Dollars;
}
