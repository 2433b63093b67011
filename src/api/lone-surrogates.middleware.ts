/**
 * A JSON string may escape one half of a UTF-16 surrogate pair (`"\ud800"`). JavaScript parses
 * it, but it is not text: Postgres refuses it in jsonb ("invalid input syntax for type json")
 * and pg writes it into text columns as U+FFFD, silently changing what was sent. Any JSON body
 * holding one, in a value or a key, is refused with 422 naming where, before a route sees it.
 */
import type { MiddlewareHandler } from 'hono';
import { AppError } from '../errors/app-error.js';
import type { ApiEnv } from './api-deps.js';

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

/** A key as a path segment, its lone surrogates written as escapes so the answer can show it. */
const readable = (key: string) => key.replace(LONE_SURROGATES, (half) => `\\u${half.charCodeAt(0).toString(16)}`);

/**
 * The path of the first string (or key) holding a lone surrogate, or null. Walks with its own
 * stack rather than recursion, so no nesting depth can overflow the call stack.
 */
export function findLoneSurrogate(body: unknown): string | null {
  const pending: { value: unknown; path: string }[] = [{ value: body, path: '' }];
  while (pending.length > 0) {
    const { value, path } = pending.pop()!;
    if (typeof value === 'string') {
      if (LONE_SURROGATE.test(value)) return path || '(body)';
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i -= 1) pending.push({ value: value[i], path: `${path}[${i}]` });
    } else if (value !== null && typeof value === 'object') {
      const entries = Object.entries(value);
      for (let i = entries.length - 1; i >= 0; i -= 1) {
        const [key, inner] = entries[i]!;
        const at = path ? `${path}.${readable(key)}` : readable(key);
        if (LONE_SURROGATE.test(key)) return at;
        pending.push({ value: inner, path: at });
      }
    }
  }
  return null;
}

export function refuseLoneSurrogates(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    if ((c.req.header('content-type') ?? '').toLowerCase().includes('application/json')) {
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        body = undefined; // malformed JSON is the validator's to refuse (400)
      }
      const found = findLoneSurrogate(body);
      if (found) {
        throw new AppError('validation_failed', `invalid input: ${found} contains a lone surrogate (half of a UTF-16 pair), which is not text`, {
          issues: [{ path: found, message: 'must not contain a lone surrogate (an unpaired \\ud800-\\udfff escape)' }],
        });
      }
    }
    await next();
  };
}
