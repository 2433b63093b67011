/**
 * Postgres cannot store a NUL character in text or jsonb. Rather than let one through every
 * schema to fail at the database, any request whose query or JSON body holds one is refused
 * with 422 naming where.
 */
import type { MiddlewareHandler } from 'hono';
import { AppError } from '../errors/app-error.js';
import type { ApiEnv } from './api-deps.js';

function findNul(value: unknown, path: string): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path || '(body)' : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i += 1) {
      const found = findNul(value[i], `${path}[${i}]`);
      if (found) return found;
    }
    return null;
  }
  if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      const found = key.includes('\u0000') ? `${path}.${key}` : findNul(inner, path ? `${path}.${key}` : key);
      if (found) return found;
    }
  }
  return null;
}

export function refuseNulCharacters(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
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
      const found = findNul(body, '');
      if (found) refuse(found);
    }
    await next();
  };
}
