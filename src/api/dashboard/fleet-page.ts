/**
 * The fleet page at /: static files read once from the package's source folder (so it works from
 * any working directory, and from the compiled build, which holds only code). Its data comes
 * from the API, so the page asks for a login like the API does: browsers use HTTP Basic auth.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Hono } from 'hono';
import { hasScope, isAdmin } from '../../auth/principal.js';
import { AppError } from '../../errors/app-error.js';
import type { ApiDeps, ApiEnv } from '../api-deps.js';
import { PACKAGE_ROOT } from '../../package-root.js';

const PUBLIC = path.join(PACKAGE_ROOT, 'src', 'api', 'dashboard', 'public');
const FILES = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/fleet.js': { file: 'fleet.js', type: 'text/javascript; charset=utf-8' },
  '/fleet-shares.js': { file: 'fleet-shares.js', type: 'text/javascript; charset=utf-8' },
  '/fleet-dom.js': { file: 'fleet-dom.js', type: 'text/javascript; charset=utf-8' },
  '/fleet.css': { file: 'fleet.css', type: 'text/css; charset=utf-8' },
} as const;
const ADMIN_MARK = 'data-admin="false"';

export function fleetPageRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  for (const [route, { file, type }] of Object.entries(FILES)) {
    const body = readFileSync(path.join(PUBLIC, file), 'utf8');
    app.get(route, async (c) => {
      const principal = await deps.auth.fromHeader(c.req.header('authorization'));
      if (!principal) {
        c.header('WWW-Authenticate', 'Basic realm="jobfleet", charset="UTF-8"');
        throw new AppError('unauthorized', 'log in to see the fleet (HTTP Basic auth, or a bearer token)');
      }
      if (!hasScope(principal, ['read', 'worker'])) throw new AppError('forbidden', 'the fleet page needs the read, worker or admin scope');
      // The page offers admins what only they may do (resume a provider); the API checks it again.
      const page = file === 'index.html' && isAdmin(principal) ? body.replace(ADMIN_MARK, 'data-admin="true"') : body;
      return c.body(page, 200, { 'Content-Type': type, 'Cache-Control': 'no-store' });
    });
  }
  return app;
}
