/**
 * How a provider says that the organisation's spend limit or credit is used up, in one place: the
 * Anthropic executor reads it from an API error, a command agent's Claude CLI from its result line.
 * Kept free of the SDK so that a command worker does not load it.
 */

/** The `error.details.error_code` values Anthropic sends with a spend limit's 429. */
const SPEND_LIMIT_CODES = new Set(['enforced_spend_limit_reached', 'contract_spend_limit_reached']);

/**
 * Anthropic's wording for a spend limit or an empty balance, which reaches us as a 400
 * `invalid_request_error` with no code: "You have reached your specified (workspace) API usage
 * limits. You will regain access on ...", "Your credit balance is too low to access the Anthropic
 * API ...". Matched loosely (case, spacing, workspace or not), since the wording is not a contract.
 */
const SPEND_LIMIT_WORDING = [
  /reached\s+your\s+specified\s+(?:\w+\s+)?api\s+usage\s+limits?/i,
  /credit\s+balance\s+is\s+too\s+low/i,
  /\bspend(?:ing)?\s+limit\b/i,
  /insufficient\s+credits?/i,
];

export interface RefusalFacts {
  status: number | undefined;
  /** `error.type`, e.g. `rate_limit_error`, `invalid_request_error`, `billing_error`. */
  type: string | null;
  /** `error.details.error_code`, when the API sent one. */
  errorCode: string | null;
  message: string | null;
}

/** True when the refusal says the organisation's spend limit or credit is used up. */
export function isSpendLimitRefusal(facts: RefusalFacts): boolean {
  if (facts.errorCode && SPEND_LIMIT_CODES.has(facts.errorCode)) return true;
  if (facts.type === 'billing_error' || facts.status === 402) return true;
  // Only where Anthropic uses it: a 400 or 429 (or an error event in a stream) with that wording.
  if (facts.status !== undefined && facts.status !== 400 && facts.status !== 429) return false;
  return SPEND_LIMIT_WORDING.some((pattern) => pattern.test(facts.message ?? ''));
}
