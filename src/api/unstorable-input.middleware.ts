/**
 * Refusals of input that no schema should ever see, found in one walk of the JSON body:
 * - Postgres cannot store a NUL character in text or jsonb, so a query or JSON body holding one
 *   is refused with 422 naming where, rather than failing at the database;
 * - a lone half of a UTF-16 surrogate pair (`"\ud800"`) parses in JavaScript but is not text:
 *   Postgres refuses it in jsonb and pg writes it into text columns as U+FFFD, silently changing
 *   what was sent; refused with 422 naming where (a value or a key);
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

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

type Flaw = 'nul' | 'lone_surrogate';
export type Finding = { kind: Flaw; path: string } | { kind: 'too_deep' } | null;

function flawOf(text: string): Flaw | null {
  if (text.includes('\u0000')) return 'nul';
  return LONE_SURROGATE.test(text) ? 'lone_surrogate' : null;
}

/** A key as a path segment, its lone surrogates written as escapes so the answer can show it. */
const readable = (key: string) => key.replace(LONE_SURROGATES, (half) => `\\u${half.charCodeAt(0).toString(16)}`);

/** The first unstorable string's path in a parsed JSON value (document order), or that it is nested too deeply. */
export function inspectJson(root: unknown): Finding {
  const pending: { value: unknown; path: string; depth: number }[] = [{ value: root, path: '', depth: 0 }];
  while (pending.length > 0) {
    const { value, path, depth } = pending.pop()!;
    if (typeof value === 'string') {
      const flaw = flawOf(value);
      if (flaw) return { kind: flaw, path: path || '(body)' };
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
      const innerPath = path ? `${path}.${readable(key)}` : readable(key);
      const flaw = flawOf(key);
      if (flaw) return { kind: flaw, path: innerPath };
      pending.push({ value: inner, path: innerPath, depth: depth + 1 });
    }
  }
  return null;
}

const REFUSAL: Record<Flaw, { says: string; rule: string }> = {
  nul: { says: 'contains a NUL character', rule: 'must not contain NUL characters' },
  lone_surrogate: {
    says: 'contains a lone surrogate (half of a UTF-16 pair), which is not text',
    rule: 'must not contain a lone surrogate (an unpaired \\ud800-\\udfff escape)',
  },
};

function refuse(flaw: Flaw, where: string): never {
  const { says, rule } = REFUSAL[flaw];
  throw new AppError('validation_failed', `invalid input: ${where} ${says}`, { issues: [{ path: where, message: rule }] });
}

export function refuseUnstorableInput(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    if (PUBLIC_PATHS.has(c.req.path)) return next();
    for (const [name, values] of Object.entries(c.req.queries())) {
      if (name.includes('\u0000') || values.some((value) => value.includes('\u0000'))) refuse('nul', name);
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
      if (found) refuse(found.kind, found.path);
    }
    await next();
  };
}
