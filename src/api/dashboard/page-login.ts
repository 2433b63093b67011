/**
 * The login every dashboard page and its files ask for (the fleet page, a job's, a sprint run's):
 * the API's own, so a page shows a login exactly what the API would show it. Browsers log in with
 * HTTP Basic auth (the challenge below makes them ask); scripts may send a bearer token.
 */
import path from 'node:path';
import type { Context } from 'hono';
import { hasScope, type Principal } from '../../auth/principal.js';
import { AppError } from '../../errors/app-error.js';
import { PACKAGE_ROOT } from '../../package-root.js';
import type { ApiDeps, ApiEnv } from '../api-deps.js';

/** The pages' static files, read from the package's source folder: the compiled build holds only code. */
export const PUBLIC = path.join(PACKAGE_ROOT, 'src', 'api', 'dashboard', 'public');

export const JS = 'text/javascript; charset=utf-8';
export const CSS = 'text/css; charset=utf-8';
export const HTML = 'text/html; charset=utf-8';

export async function pageLogin(deps: ApiDeps, c: Context<ApiEnv>): Promise<Principal> {
  const principal = await deps.auth.fromHeader(c.req.header('authorization'));
  if (!principal) {
    c.header('WWW-Authenticate', 'Basic realm="jobfleet", charset="UTF-8"');
    throw new AppError('unauthorized', 'log in to see the fleet (HTTP Basic auth, or a bearer token)');
  }
  if (!hasScope(principal, ['read', 'worker'])) throw new AppError('forbidden', 'the fleet pages need the read, worker or admin scope');
  return principal;
}
