/**
 * A job's budget: `{ max_cost_usd, max_output_tokens, max_turns }`, each optional, given on
 * enqueue or defaulted per kind (JOB_BUDGETS). It is checked while the agent runs
 * (src/executors/usage-meter.ts); a job without any ceiling runs unmetered. A leaf, like
 * job-kinds.ts: the configuration reads the defaults with it.
 */
import { z } from 'zod';
import { JOB_KIND_DEFINITIONS, JOB_KINDS, type JobKind } from './job-kinds.js';

/** A job's ceilings as the worker meters them (src/executors/usage-meter.ts); null: none. */
export interface BudgetLimits {
  maxCostUsd: number | null;
  maxOutputTokens: number | null;
  maxTurns: number | null;
}

/** The `budget` field of an enqueue, and of each kind's default. */
export const jobBudgetSchema = z
  .strictObject({
    max_cost_usd: z.number().positive().max(1_000_000).optional(),
    max_output_tokens: z.number().int().positive().max(100_000_000).optional(),
    max_turns: z.number().int().positive().max(100_000).optional(),
  })
  .refine((budget) => Object.keys(budget).length > 0, {
    message: 'a budget names at least one of max_cost_usd, max_output_tokens, max_turns',
  });

export type JobBudget = z.infer<typeof jobBudgetSchema>;

const KIND_NAMES = [...JOB_KINDS.map((kind) => JOB_KIND_DEFINITIONS[kind].api), '*'] as const;

/** JOB_BUDGETS: budgets by the API spelling of a kind, or `*` for every kind without one. */
export const budgetDefaultsSchema = z.partialRecord(
  z.enum(KIND_NAMES as unknown as [string, ...string[]], { error: `a kind (${KIND_NAMES.join(', ')})` }),
  jobBudgetSchema,
);

export type BudgetDefaults = z.infer<typeof budgetDefaultsSchema>;

/** The job's own budget over its kind's default, field by field. */
export function budgetLimitsOf(kind: JobKind, own: JobBudget | null, defaults: BudgetDefaults): BudgetLimits {
  const fallback = defaults[JOB_KIND_DEFINITIONS[kind].api] ?? defaults['*'] ?? {};
  const merged = { ...fallback, ...(own ?? {}) };
  return {
    maxCostUsd: merged.max_cost_usd ?? null,
    maxOutputTokens: merged.max_output_tokens ?? null,
    maxTurns: merged.max_turns ?? null,
  };
}
