/**
 * Which Anthropic refusals are the provider's limits rather than the job's failure, and how long
 * the provider asked us to wait (SPEC "Provider limits and budgets"):
 * - 429 `rate_limit_error`: a rate limit, for `retry-after-ms`, `retry-after` (seconds or an HTTP
 *   date) or, failing those, until the reset of the rate limit that is exhausted;
 * - a spend limit or an empty credit balance (429 with a spend-limit code, 400 with the wording,
 *   402 `billing_error`): lasts until an admin resumes the provider, so no time;
 * - 529 `overloaded_error`, other 5xx, a lost connection, an `error` event in a stream: overloaded.
 *
 * None of these may be retried by the SDK inside the job: the fleet pauses the whole provider
 * instead, so `refuseSdkRetries` tells the SDK not to (its documented `x-should-retry` header).
 */
import { APIConnectionError, APIError, APIUserAbortError, type Middleware } from '@anthropic-ai/sdk';
import { ProviderLimitError } from '../errors/provider-limit.js';
import { isSpendLimitRefusal, type RefusalFacts } from './spend-limit.js';

export { isSpendLimitRefusal } from './spend-limit.js';

const PROVIDER = 'anthropic';

/**
 * The ProviderLimitError a thrown SDK error stands for, or null when it is the job's own failure
 * (a bad request, a refused key, ...). An abort of the request is never a limit.
 */
export function providerLimitOf(thrown: unknown, now: number = Date.now()): ProviderLimitError | null {
  if (thrown instanceof ProviderLimitError) return thrown;
  if (thrown instanceof APIUserAbortError) return null;
  if (thrown instanceof APIConnectionError) {
    return new ProviderLimitError(PROVIDER, 'overloaded', null, `anthropic unreachable: ${thrown.message}`);
  }
  if (!(thrown instanceof APIError)) return null;
  const facts: RefusalFacts = {
    status: thrown.status,
    type: thrown.type,
    errorCode: thrown.errorCode,
    message: thrown.apiMessage ?? thrown.message,
  };
  const said = `anthropic ${thrown.status ?? 'stream'} ${thrown.type ?? 'error'}: ${facts.message ?? ''}`.trim();
  if (isSpendLimitRefusal(facts)) return new ProviderLimitError(PROVIDER, 'spend_limit', null, said);
  if (thrown.status === 429 || thrown.type === 'rate_limit_error') {
    return new ProviderLimitError(PROVIDER, 'rate_limit', retryAfterMsOf(thrown.headers, now, { resetHeaders: true }), said);
  }
  // A stream's error event has no status of its own: its type says what happened.
  const overloaded =
    (thrown.status !== undefined && thrown.status >= 500) ||
    (thrown.status === undefined && (thrown.type === 'overloaded_error' || thrown.type === 'api_error'));
  if (overloaded) return new ProviderLimitError(PROVIDER, 'overloaded', retryAfterMsOf(thrown.headers, now), said);
  return null;
}

/**
 * How long the answer's headers ask us to wait, in ms: `retry-after-ms`, then `retry-after`
 * (whole or fractional seconds, or an HTTP date), then (for rate limits) the latest reset among
 * the `anthropic-ratelimit-*` limits whose `-remaining` is 0. Null when none says.
 */
export function retryAfterMsOf(headers: Headers | undefined, now: number, options: { resetHeaders?: boolean } = {}): number | null {
  if (!headers) return null;
  const millis = Number.parseFloat(headers.get('retry-after-ms') ?? '');
  if (Number.isFinite(millis) && millis >= 0) return Math.ceil(millis);
  const after = headers.get('retry-after')?.trim();
  if (after) {
    if (/^\d+(?:\.\d+)?$/.test(after)) return Math.ceil(Number(after) * 1000);
    const date = Date.parse(after);
    if (Number.isFinite(date)) return Math.max(0, date - now);
  }
  return options.resetHeaders ? exhaustedLimitResetMs(headers, now) : null;
}

const RATE_LIMIT_REMAINING = /^anthropic-ratelimit-(.+)-remaining$/;

function exhaustedLimitResetMs(headers: Headers, now: number): number | null {
  let latest: number | null = null;
  for (const [name, value] of headers) {
    const limit = RATE_LIMIT_REMAINING.exec(name)?.[1];
    if (!limit || Number(value) !== 0) continue;
    const reset = Date.parse(headers.get(`anthropic-ratelimit-${limit}-reset`) ?? '');
    if (Number.isFinite(reset)) latest = Math.max(latest ?? 0, reset - now);
  }
  return latest === null ? null : Math.max(0, latest);
}

/**
 * SDK middleware: a 429 or 5xx answer goes back to the SDK marked `x-should-retry: false`, and a
 * connection that fails becomes an overloaded ProviderLimitError (an error thrown by middleware
 * is not retried), so the SDK's own retries are left for 408 and 409 answers and timeouts.
 */
export const refuseSdkRetries: Middleware = async (request, next) => {
  let response: Response;
  try {
    response = await next(request);
  } catch (thrown) {
    // Aborts and timeouts stay the SDK's: an abort is ours, a timeout is retried per attempt.
    if (isAbortOrTimeout(thrown)) throw thrown;
    const message = thrown instanceof Error ? thrown.message : String(thrown);
    throw new ProviderLimitError(PROVIDER, 'overloaded', null, `anthropic unreachable: ${message}`);
  }
  if (response.status !== 429 && response.status < 500) return response;
  const headers = new Headers(response.headers);
  headers.set('x-should-retry', 'false');
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
};

function isAbortOrTimeout(thrown: unknown): boolean {
  if (typeof thrown !== 'object' || thrown === null) return false;
  const name = (thrown as { name?: unknown }).name;
  return name === 'AbortError' || name === 'TimeoutError';
}
