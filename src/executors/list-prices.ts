/**
 * What a model's tokens cost at list price: the estimate behind dashboards and budgets, for the
 * Anthropic executor and for a command agent that reports tokens but no cost. Kept apart from the
 * Anthropic executor so that a command worker does not load the SDK for it.
 */

interface ListPrice {
  modelPrefix: string;
  /** USD per million input tokens. */
  input: number;
  /** USD per million output tokens. */
  output: number;
}

/**
 * List prices in USD per million tokens (standard tier, no batch or cache discounts), as
 * published by Anthropic and collected in simonw/llm-prices in November 2026. They change and
 * new families appear: this is an estimate for dashboards and budgets, not billing; check
 * https://claude.com/pricing when touching it. First matching prefix wins, so exceptions to a
 * family's price come before the family.
 */
const LIST_PRICES: readonly ListPrice[] = [
  { modelPrefix: 'claude-opus-5-5', input: 4, output: 20 },
  // Opus 4 and 4.1 (`claude-opus-4-0`, `claude-opus-4-20250514`, `claude-opus-4-1...`).
  { modelPrefix: 'claude-opus-4-0', input: 15, output: 75 },
  { modelPrefix: 'claude-opus-4-1', input: 15, output: 75 },
  { modelPrefix: 'claude-opus-4-2025', input: 15, output: 75 },
  { modelPrefix: 'claude-opus', input: 5, output: 25 },
  { modelPrefix: 'claude-sonnet-4', input: 3, output: 15 },
  { modelPrefix: 'claude-sonnet', input: 2, output: 10 },
  { modelPrefix: 'claude-haiku', input: 1, output: 5 },
];

/**
 * Unknown models (new families, proxies) are priced like Sonnet 4: a mid-range guess that keeps
 * budgets counting, where 0 would make their spend invisible.
 */
const FALLBACK_PRICE: ListPrice = { modelPrefix: '', input: 3, output: 15 };

export function estimateCostUsd(model: string, inputTokens: number, outputTokens: number): number {
  const price = LIST_PRICES.find((entry) => model.startsWith(entry.modelPrefix)) ?? FALLBACK_PRICE;
  return (inputTokens * price.input + outputTokens * price.output) / 1_000_000;
}
