/** Schemas shared by every resource: ids, enum lists in query strings, pages, error responses. */
import { z } from '@hono/zod-openapi';
import { isPagePosition, type PageOf, type PagePosition } from '../../db/pagination.js';
import { AppError } from '../../errors/app-error.js';
import type { Spelling } from '../../util/define-spelling.js';
import { ErrorBody } from '../http-errors.js';

export const Uuid = z.uuid({ error: 'must be a UUID' });

/** A path id; any malformed id is simply one that does not exist (404), checked in the handler. */
export const IdParam = z.object({
  id: z.string().openapi({ param: { name: 'id', in: 'path' }, example: '0199a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d' }),
});

export function isUuid(value: string): boolean {
  return Uuid.safeParse(value).success;
}

/** One API value of an enum; anything else is refused with the list of allowed values. */
export function apiEnum<Api extends string>(spelling: Spelling<string, Api>) {
  const values = spelling.apiValues as [Api, ...Api[]];
  return z.enum(values, { error: `must be one of ${values.join(', ')}` });
}

/** A comma-separated list of an enum's API values, as a query parameter. */
export function apiEnumList<Db extends string, Api extends string>(spelling: Spelling<Db, Api>) {
  const allowed = spelling.apiValues.join(', ');
  return z
    .string()
    .transform((value, ctx) => {
      const parts = value
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean);
      const bad = parts.filter((part) => spelling.fromApi(part) === null);
      if (bad.length) {
        ctx.addIssue({ code: 'custom', message: `${bad.join(', ')} ${bad.length > 1 ? 'are' : 'is'} not allowed; allowed: ${allowed}` });
        return z.NEVER;
      }
      return parts.map((part) => spelling.fromApi(part)!);
    })
    .openapi({ type: 'string', description: `comma-separated; any of ${allowed}` });
}

export const Limit = z.coerce
  .number({ error: 'must be a whole number from 1 to 200' })
  .int({ error: 'must be a whole number from 1 to 200' })
  .min(1, { error: 'must be a whole number from 1 to 200' })
  .max(200, { error: 'must be a whole number from 1 to 200' })
  .default(50);

export const Cursor = z.string().max(200).optional().openapi({ description: 'next_cursor of the previous page' });

/** A page of a list: its items and the cursor of the next page (null on the last). */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), next_cursor: z.string().nullable() });
}

/** Where a list resumes: after the cursor's position, or from the start without one. */
export function pageAfter(cursor: string | undefined): PagePosition | undefined {
  const after = decodeCursor(cursor, isPagePosition);
  if (after === null)
    throw new AppError('validation_failed', 'invalid cursor: pass next_cursor from a previous page', {
      issues: [{ path: 'cursor', message: 'not a cursor' }],
    });
  return after;
}

export function nextCursor(page: PageOf<unknown>): string | null {
  return page.next ? encodeCursor(page.next) : null;
}

/** The error responses every route may give. */
export function errorResponses(...statuses: (400 | 401 | 403 | 404 | 409 | 413 | 422 | 503)[]) {
  const descriptions: Record<number, string> = {
    400: 'Malformed request, or JSON nested deeper than 64 levels',
    401: 'No valid bearer token',
    403: "The token lacks the scope, the write is not this token's, or a browser login writes from another site",
    404: 'No such resource',
    409: 'The status does not allow this; details.allowed lists what does',
    413: 'The request body is too large',
    422: 'Invalid input; details.issues lists every field and what is allowed',
    503: 'Postgres or Redis is unavailable (down, restarting or full); try again after Retry-After seconds',
  };
  const retryAfter = {
    'Retry-After': { description: 'Seconds to wait before trying again', schema: { type: 'integer' as const, minimum: 1 } },
  };
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      {
        description: descriptions[status]!,
        ...(status === 503 ? { headers: retryAfter } : {}),
        content: { 'application/json': { schema: ErrorBody } },
      },
    ]),
  );
}

export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } };
}

/** Page positions travel as opaque base64url strings. */
export function encodeCursor(position: object): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

export function decodeCursor<T>(cursor: string | undefined, check: (value: unknown) => value is T): T | undefined | null {
  if (cursor === undefined) return undefined;
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    return check(value) ? value : null;
  } catch {
    return null;
  }
}
