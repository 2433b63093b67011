/**
 * Who enqueues, as the enqueue services need it: the caller (history actor, owner scope) and the
 * UTC day its subjects' owners' budgets are judged for, so that an owner whose day is spent is
 * refused with 409 budget_exhausted (SPEC "Provider limits and budgets").
 */
import { type Caller, callerOf } from '../auth/caller.js';
import type { Principal } from '../auth/principal.js';
import { type BudgetDay, budgetDay } from '../budgets/owner-budgets.js';
import type { EnqueueContext } from '../jobs/enqueue-jobs.js';
import { systemClock } from '../util/clock.js';
import type { ApiDeps } from './api-deps.js';

export function enqueuerOf(
  c: { get(key: 'principal'): Principal },
  deps: Pick<ApiDeps, 'config' | 'clock'>,
): EnqueueContext & Caller & { budgetDay: BudgetDay } {
  return { ...callerOf(c), budgetDay: budgetDay((deps.clock ?? systemClock)(), deps.config.OWNER_DAILY_BUDGET_USD) };
}
