/**
 * The fleet page at /: static files read once from the package's source folder (so it works from
 * any working directory, and from the compiled build, which holds only code), and its charting
 * library (uPlot) read from wherever npm put the package, so users need no build step. Its data
 * comes from the API, so the page asks for a login like the API does: browsers use HTTP Basic auth.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Hono } from 'hono';
import { isAdmin } from '../../auth/principal.js';
import { claudeJobStatus, EVENT_STATUSES, jobKind } from '../../spelling/api-spelling.js';
import type { ApiDeps, ApiEnv } from '../api-deps.js';
import { CSS, HTML, JS, PUBLIC, pageLogin } from './page-login.js';

/** uPlot's dist folder, found as Node finds the package (its main file lives there). */
const UPLOT = path.dirname(createRequire(import.meta.url).resolve('uplot'));
const FILES = {
  '/': { file: path.join(PUBLIC, 'index.html'), type: HTML },
  '/fleet.js': { file: path.join(PUBLIC, 'fleet.js'), type: JS },
  '/fleet-shares.js': { file: path.join(PUBLIC, 'fleet-shares.js'), type: JS },
  '/fleet-dom.js': { file: path.join(PUBLIC, 'fleet-dom.js'), type: JS },
  '/fleet-plots.js': { file: path.join(PUBLIC, 'fleet-plots.js'), type: JS },
  '/fleet-feed-filters.js': { file: path.join(PUBLIC, 'fleet-feed-filters.js'), type: JS },
  '/fleet.css': { file: path.join(PUBLIC, 'fleet.css'), type: CSS },
  // Every dashboard page's colours and header bar: a job's and a sprint run's pages load it too.
  '/page.css': { file: path.join(PUBLIC, 'page.css'), type: CSS },
  // An agent's question with its answer form: shared with a job's page (detail-pages.ts).
  '/questions.js': { file: path.join(PUBLIC, 'questions.js'), type: JS },
  '/questions.css': { file: path.join(PUBLIC, 'questions.css'), type: CSS },
  '/vendor/uPlot.iife.min.js': { file: path.join(UPLOT, 'uPlot.iife.min.js'), type: JS },
  '/vendor/uPlot.min.css': { file: path.join(UPLOT, 'uPlot.min.css'), type: CSS },
} as const;
const ADMIN_MARK = 'data-admin="false"';
/** What the feed's filters offer, in API spelling: the kinds, and the statuses an event may go to (a job's first). */
const CHOICES_MARK = 'data-kinds="" data-job-statuses="" data-statuses=""';
const CHOICES = `data-kinds="${jobKind.apiValues.join(',')}" data-job-statuses="${claudeJobStatus.apiValues.join(',')}" data-statuses="${EVENT_STATUSES.join(',')}"`;

export function fleetPageRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  for (const [route, { file, type }] of Object.entries(FILES)) {
    let body = readFileSync(file, 'utf8');
    if (route === '/') {
      // A page that lost its marks would offer no filters and no admin controls: fail at start instead.
      if (!body.includes(CHOICES_MARK) || !body.includes(ADMIN_MARK)) throw new Error(`fleet page: ${file} lacks its <body> marks`);
      body = body.replace(CHOICES_MARK, CHOICES);
    }
    app.get(route, async (c) => {
      const principal = await pageLogin(deps, c);
      // The page offers admins what only they may do (resume a provider, filter by owner); the API checks it again.
      const page = route === '/' && isAdmin(principal) ? body.replace(ADMIN_MARK, 'data-admin="true"') : body;
      return c.body(page, 200, { 'Content-Type': type, 'Cache-Control': 'no-store' });
    });
  }
  return app;
}
