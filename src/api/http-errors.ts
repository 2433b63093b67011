/**
 * The edge where errors become responses: an AppError answers with its code's status and
 * `{ error: { code, message, details, requestId } }`; a validation failure answers 422 listing
 * every offending field; a backing service that is away (Postgres restarting or full, Redis down)
 * answers 503 with Retry-After; anything else is a 500 that is logged (and says nothing more).
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { $ZodIssue } from 'zod/v4/core';
import { isPostgresUnavailable } from '../db/postgres-unavailable.js';
import { AppError, type ErrorCode, HTTP_STATUS } from '../errors/app-error.js';
import type { Logger } from '../logger.js';

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(HTTP_STATUS) as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      details: z.record(z.string(), z.unknown()),
      requestId: z.string(),
    }),
  })
  .openapi('Error');

/** What a 503 asks the client to wait: about as long as Postgres takes to restart. */
export const RETRY_AFTER_SECONDS = 2;

export function errorBody(error: AppError, requestId: string) {
  return { error: { code: error.code, message: error.message, details: error.details, requestId } };
}

/**
 * A whole HTTP/1.1 response carrying the error, for answers written straight to a socket where
 * no Hono context exists (a refused WebSocket handshake, a request Node's parser refused).
 */
export function rawErrorResponse(error: AppError, headers: Record<string, string> = {}): string {
  const body = JSON.stringify(errorBody(error, randomUUID()));
  const head = [
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
  ];
  if (error.status === 503) head.push(`Retry-After: ${RETRY_AFTER_SECONDS}`);
  for (const [name, value] of Object.entries(headers)) head.push(`${name}: ${value}`);
  return `${head.join('\r\n')}\r\n\r\n${body}`;
}

function describe(issue: $ZodIssue): { path: string; message: string } {
  const path = issue.path
    .map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`))
    .join('')
    .replace(/^\./, '');
  return { path: path || '(body)', message: issue.message };
}

/** A 422 naming every field that failed validation and what is allowed there. */
export function validationError(issues: readonly $ZodIssue[], where: string): AppError {
  const listed = issues.map(describe);
  const summary = listed.map((issue) => `${issue.path}: ${issue.message}`).join('; ');
  return new AppError('validation_failed', `invalid ${where}: ${summary}`, { issues: listed });
}

export function respondWithError(c: Context, thrown: unknown, logger: Logger) {
  const requestId = (c.get('requestId') as string | undefined) ?? 'unknown';
  let error: AppError;
  if (thrown instanceof AppError) error = thrown;
  else if (thrown instanceof HTTPException) error = fromHttpException(thrown);
  else if (isBadInputForPostgres(thrown)) {
    // Validation should have caught it; a value Postgres cannot take is still the caller's input.
    logger.warn({ err: thrown, requestId }, 'input reached Postgres that it cannot store');
    error = new AppError('validation_failed', `invalid input: ${(thrown as Error).message}`, { issues: [] });
  } else if (isPostgresUnavailable(thrown)) {
    logger.error({ err: thrown, requestId }, 'a backing service is unavailable');
    error = new AppError('service_unavailable', 'a backing service is unavailable; try again shortly');
  } else {
    logger.error({ err: thrown, requestId, method: c.req.method, path: c.req.path }, 'unhandled error');
    error = new AppError('internal', 'internal error');
  }
  if (error.status >= 500 && thrown instanceof AppError) logger.error({ err: thrown, requestId }, error.message);
  if (error.status === 503) c.header('Retry-After', String(RETRY_AFTER_SECONDS));
  return c.json(errorBody(error, requestId), error.status as ContentfulStatusCode);
}

/** Hono's own refusals (malformed JSON, wrong content type) in our error shape. */
function fromHttpException(exception: HTTPException): AppError {
  switch (exception.status) {
    case 413:
      return new AppError('payload_too_large', 'the request body is too large');
    case 415:
      return new AppError('unsupported_media_type', 'send the body as application/json');
    case 401:
      return new AppError('unauthorized', exception.message || 'a valid bearer token is required');
    default:
      return new AppError('bad_request', exception.message || 'malformed request');
  }
}

/** Data exceptions (class 22): a value out of range, a NUL byte, a malformed literal. */
function isBadInputForPostgres(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && code.startsWith('22') && code.length === 5;
}
