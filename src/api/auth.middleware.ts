/**
 * Authentication for /api/v1: a bearer token (or a browser's Basic login), or 401; a write with a
 * browser's login from another site's page answers 403 (src/api/same-origin.ts). Authorisation per route: one of the
 * route's scopes (admin passes everywhere), or 403. Ownership is checked where rows are read
 * (src/backlog/ownership.ts) and answers 404.
 */
import { createRoute, type RouteConfig } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { Authenticator } from '../auth/authenticator.js';
import { hasScope, type Principal, type Scope } from '../auth/principal.js';
import { AppError } from '../errors/app-error.js';
import type { ApiEnv } from './api-deps.js';
import { assertSameOrigin, isBrowserCredential, isWrite, requestOrigin } from './same-origin.js';
import { errorResponses } from './schemas/common.schemas.js';

export const PUBLIC_PATHS = new Set(['/api/v1/openapi.json']);

/** Browsers get a Basic challenge (so they prompt for the dashboard login); API clients a Bearer one. */
export const CHALLENGE = 'Bearer realm="jobfleet", Basic realm="jobfleet", charset="UTF-8"';

export function authenticate(auth: Authenticator): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    if (PUBLIC_PATHS.has(c.req.path)) return next();
    const header = c.req.header('authorization');
    if (isBrowserCredential(header) && isWrite(c.req.method)) assertSameOrigin(requestOrigin(c));
    const principal = await auth.fromHeader(header);
    if (!principal) {
      c.header('WWW-Authenticate', CHALLENGE);
      throw new AppError(
        'unauthorized',
        header ? 'the credentials are unknown or revoked' : 'send a bearer token: Authorization: Bearer <token>',
      );
    }
    c.set('principal', principal);
    await next();
  };
}

export function requireScope(scopes: readonly Scope[]): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const principal: Principal = c.get('principal');
    if (!hasScope(principal, scopes)) {
      throw new AppError(
        'forbidden',
        `this route needs a token with the ${scopes.join(' or ')} scope; this token has ${principal.scopes.join(', ')}`,
        {
          required: scopes,
          scopes: principal.scopes,
        },
      );
    }
    await next();
  };
}

/** A route that needs one of `scopes`: the scope check, the security scheme and 401/403 in its document. */
export function authedRoute<const R extends RouteConfig>(scopes: readonly Scope[], config: R) {
  return createRoute({
    ...config,
    security: [{ bearer: [] }],
    middleware: [requireScope(scopes)] as const,
    description: `${config.description ? `${config.description} ` : ''}Scopes: ${scopes.join(' or ')} (or admin).`,
    responses: { ...errorResponses(401, 403), ...config.responses },
  });
}
