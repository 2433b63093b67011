/**
 * The running count of one job's usage, checked against its ceilings as the agent streams
 * (SPEC "Provider limits and budgets"). Executors report what arrives; the meter stops the run
 * the moment a ceiling is reached, by calling the `stop` it was made with (the worker aborts the
 * job's signal with the cause `budget_exceeded`, and the executor then stops as on any abort).
 *
 * A ceiling is reached when the cost or the output tokens reach it, or when the agent starts a
 * turn beyond `max_turns`.
 */
import type { BudgetLimits } from '../job-budget.js';

export interface UsageTotals {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** Model calls (API requests, or assistant messages of an agent CLI). */
  turns: number;
}

export type { BudgetLimits };

/** Which ceiling stopped the run: one of the job's own, or its owner's daily budget. */
export type BudgetCeiling = 'max_cost_usd' | 'max_output_tokens' | 'max_turns' | 'owner_daily_usd';

export interface BudgetExceeded {
  ceiling: BudgetCeiling;
  limit: number;
  used: number;
}

export interface UsageMeter {
  readonly limits: Readonly<BudgetLimits>;
  readonly totals: Readonly<UsageTotals>;
  /** Set once a ceiling is reached (the run has been stopped). */
  readonly exceeded: BudgetExceeded | null;
  /** Adds usage as it arrives (deltas). */
  add(delta: Partial<UsageTotals>): void;
  /** Raises the totals to cumulative figures an agent reports itself; never lowers them. */
  atLeast(totals: Partial<UsageTotals>): void;
}

export interface MeterOptions {
  limits: BudgetLimits;
  /**
   * Which ceiling a reached `maxCostUsd` is: the job's own, or what was left of its owner's
   * daily budget when it started (the lower of the two is the limit).
   * @defaultValue 'max_cost_usd'
   */
  costCeiling?: 'max_cost_usd' | 'owner_daily_usd';
  /** Called once, when a ceiling is first reached. */
  stop(exceeded: BudgetExceeded): void;
}

export const NO_LIMITS: BudgetLimits = Object.freeze({ maxCostUsd: null, maxOutputTokens: null, maxTurns: null });

export function createUsageMeter(options: MeterOptions): UsageMeter {
  const totals: UsageTotals = { inputTokens: 0, outputTokens: 0, costUsd: 0, turns: 0 };
  let exceeded: BudgetExceeded | null = null;
  const { limits } = options;

  const check = () => {
    if (exceeded) return;
    if (limits.maxCostUsd !== null && totals.costUsd >= limits.maxCostUsd) {
      exceeded = { ceiling: options.costCeiling ?? 'max_cost_usd', limit: limits.maxCostUsd, used: totals.costUsd };
    } else if (limits.maxOutputTokens !== null && totals.outputTokens >= limits.maxOutputTokens) {
      exceeded = { ceiling: 'max_output_tokens', limit: limits.maxOutputTokens, used: totals.outputTokens };
    } else if (limits.maxTurns !== null && totals.turns > limits.maxTurns) {
      exceeded = { ceiling: 'max_turns', limit: limits.maxTurns, used: totals.turns };
    }
    if (exceeded) options.stop(exceeded);
  };

  return {
    limits,
    totals,
    get exceeded() {
      return exceeded;
    },
    add(delta) {
      totals.inputTokens += delta.inputTokens ?? 0;
      totals.outputTokens += delta.outputTokens ?? 0;
      totals.costUsd += delta.costUsd ?? 0;
      totals.turns += delta.turns ?? 0;
      check();
    },
    atLeast(reported) {
      totals.inputTokens = Math.max(totals.inputTokens, reported.inputTokens ?? 0);
      totals.outputTokens = Math.max(totals.outputTokens, reported.outputTokens ?? 0);
      totals.costUsd = Math.max(totals.costUsd, reported.costUsd ?? 0);
      totals.turns = Math.max(totals.turns, reported.turns ?? 0);
      check();
    },
  };
}
