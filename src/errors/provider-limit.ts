/**
 * What an executor throws when its provider refuses to serve for a while: a rate limit (429), an
 * overload (529, 5xx, connection refused) or the organisation's spend limit. It is never the job's
 * failure: the worker returns the job to its queue without spending an attempt and pauses every
 * kind the provider serves, fleet-wide (SPEC "Provider limits and budgets").
 */

/** Why a provider stopped serving. */
export const PROVIDER_LIMITS = ['rate_limit', 'overloaded', 'spend_limit'] as const;
export type ProviderLimit = (typeof PROVIDER_LIMITS)[number];

/**
 * The longest wait a provider (or an agent speaking for it) may ask for: a day. A larger one is
 * a mistake or hostile, and would hold the provider's kinds until an admin noticed.
 */
export const MAX_PROVIDER_WAIT_MS = 24 * 60 * 60 * 1000;

export class ProviderLimitError extends Error {
  override readonly name = 'ProviderLimitError';
  constructor(
    /** The provider that refused, e.g. `anthropic`. */
    readonly provider: string,
    readonly limit: ProviderLimit,
    /**
     * How long the provider asked us to wait (its `retry-after`, a reset header, or what a command
     * agent said); null when it did not say, and the fleet chooses (a default for rate limits,
     * exponential backoff with jitter for overloads). Never set for a spend limit, which lasts
     * until an admin resumes the provider.
     */
    readonly retryAfterMs: number | null,
    message: string,
  ) {
    super(message);
    if (retryAfterMs !== null) {
      this.retryAfterMs = Number.isFinite(retryAfterMs) ? Math.min(Math.max(0, Math.round(retryAfterMs)), MAX_PROVIDER_WAIT_MS) : null;
    }
  }
}

export function isProviderLimit(thrown: unknown): thrown is ProviderLimitError {
  return thrown instanceof ProviderLimitError;
}
