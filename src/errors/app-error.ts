/**
 * Every error jobfleet raises on purpose is an AppError with a code from one closed set. The
 * code decides the HTTP status in exactly one place (HTTP_STATUS below); the API's error handler
 * turns an AppError into `{ error: { code, message, details, requestId } }`.
 */
export const HTTP_STATUS = {
  bad_request: 400,
  unauthorized: 401,
  /** A job token whose job no longer holds its claim (ended, lease lapsed, claimed again). */
  job_token_expired: 401,
  /** The caller is known but may not do this (missing scope, another worker's claim). */
  forbidden: 403,
  claim_token_mismatch: 403,
  not_found: 404,
  /** The client sent no complete request in time (Node's requestTimeout). */
  request_timeout: 408,
  /** The machine table has no such edge, or only the system may take it. */
  invalid_transition: 409,
  /** The row is no longer in the status the caller expected (someone else moved it first). */
  status_conflict: 409,
  /** A write carried a claim epoch that a newer claim has replaced. */
  stale_claim: 409,
  conflict: 409,
  /** A question already answered, or closed because its job ended. */
  question_closed: 409,
  budget_exhausted: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  validation_failed: 422,
  /** A plan an agent wrote does not parse (src/backlog/plan-format.ts). */
  plan_invalid: 422,
  /** The request line and headers are larger than Node's HTTP parser accepts. */
  headers_too_large: 431,
  service_unavailable: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof HTTP_STATUS;

export class AppError extends Error {
  override readonly name = 'AppError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }

  get status(): (typeof HTTP_STATUS)[ErrorCode] {
    return HTTP_STATUS[this.code];
  }
}

export function isAppError(error: unknown, code?: ErrorCode): error is AppError {
  return error instanceof AppError && (code === undefined || error.code === code);
}

/** Every `catch (e)` goes through here: whatever was thrown becomes an Error. */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  if (typeof thrown === 'string') return new Error(thrown);
  try {
    return new Error(JSON.stringify(thrown));
  } catch {
    return new Error(String(thrown));
  }
}
