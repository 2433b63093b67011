/**
 * Two refusals of JSON that no schema should ever see:
 * - Postgres cannot store a NUL character in text or jsonb, so any request whose query or JSON
 *   body holds one is refused with 422 naming where, rather than failing at the database;
 * - a body nested deeper than MAX_JSON_DEPTH levels is refused with 400 naming the limit. Such a
 *   body is a few kilobytes of brackets that would exhaust the stack of whatever walks it
 *   recursively (and Postgres's own stack in jsonb), so this walk is iterative.
 * Bodies of public paths are never read: they are not authenticated, and no route there takes one.
 */
import type { MiddlewareHandler } from 'hono';
import { AppError } from '../errors/app-error.js';
import type { ApiEnv } from './api-deps.js';
import { PUBLIC_PATHS } from './auth.middleware.js';

/** Objects and arrays nested in each other, the body itself counting as level 1. */
export const MAX_JSON_DEPTH = 64;

type Finding = { kind: 'nul'; path: string } | { kind: 'too_deep' } | null;

/** The first NUL character's path in a parsed JSON value, or that it is nested too deeply. */
export function inspectJson(root: unknown): Finding {
  const pending: { value: unknown; path: string; depth: number }[] = [{ value: root, path: '', depth: 0 }];
  while (pending.length > 0) {
    const { value, path, depth } = pending.pop()!;
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return { kind: 'nul', path: path || '(body)' };
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth + 1 > MAX_JSON_DEPTH) return { kind: 'too_deep' };
    // Pushed in reverse so that the first offending field, in document order, is the one named.
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i -= 1) pending.push({ value: value[i], path: `${path}[${i}]`, depth: depth + 1 });
      continue;
    }
    const entries = Object.entries(value);
    for (let i = entries.length - 1; i >= 0; i -= 1) {
      const [key, inner] = entries[i]!;
      const innerPath = path ? `${path}.${key}` : key;
      if (key.includes('\u0000')) return { kind: 'nul', path: innerPath };
      pending.push({ value: inner, path: innerPath, depth: depth + 1 });
    }
  }
  return null;
}

export function refuseNulCharacters(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    if (PUBLIC_PATHS.has(c.req.path)) return next();
    const refuse = (where: string) => {
      throw new AppError('validation_failed', `invalid input: ${where} contains a NUL character`, { issues: [{ path: where, message: 'must not contain NUL characters' }] });
    };
    for (const [name, values] of Object.entries(c.req.queries())) {
      if (name.includes('\u0000') || values.some((value) => value.includes('\u0000'))) refuse(name);
    }
    if ((c.req.header('content-type') ?? '').toLowerCase().includes('application/json')) {
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        body = undefined; // malformed JSON is the validator's to refuse (400)
      }
      const found = inspectJson(body);
      if (found?.kind === 'too_deep') {
        const message = `the JSON body is nested deeper than ${MAX_JSON_DEPTH} levels of objects and arrays`;
        throw new AppError('bad_request', message, { max_depth: MAX_JSON_DEPTH });
      }
      if (found) refuse(found.path);
    }
    await next();
  };
}
