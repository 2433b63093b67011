/**
 * A page per job (/jobs/<id>) and per sprint run (/sprint-runs/<id>), and the static files they
 * load, read once from the package's source folder like the fleet page's. The pages carry no data:
 * they read it from the API with the browser's login, so the API's scoping decides what a login
 * sees (another owner's job is the API's 404, shown on the page). The page itself asks for the
 * fleet page's login (HTTP Basic, or a bearer token; read, worker or admin scope). An id that is
 * no UUID names nothing: 404, as the API would answer.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Hono } from 'hono';
import type { ApiDeps, ApiEnv } from '../api-deps.js';
import { isUuid } from '../schemas/common.schemas.js';
import { CSS, HTML, JS, PUBLIC, pageLogin } from './page-login.js';

/** The pages, by the entity they show; the id in their path is read by the page's script. */
const PAGES = {
  '/jobs/:id': { file: 'job.html', noun: 'job' },
  '/sprint-runs/:id': { file: 'sprint-run.html', noun: 'sprint run' },
} as const;

/** Their scripts and styles (a question's answer form comes with the fleet page's files: fleet-page.ts). */
const ASSETS = {
  '/job.js': { file: 'job.js', type: JS },
  '/job-sections.js': { file: 'job-sections.js', type: JS },
  '/sprint-run.js': { file: 'sprint-run.js', type: JS },
  '/detail-api.js': { file: 'detail-api.js', type: JS },
  '/timeline.js': { file: 'timeline.js', type: JS },
  '/detail.css': { file: 'detail.css', type: CSS },
} as const;

const read = (file: string) => readFileSync(path.join(PUBLIC, file), 'utf8');

export function detailPageRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();

  for (const [route, { file, type }] of Object.entries(ASSETS)) {
    const body = read(file);
    app.get(route, async (c) => {
      await pageLogin(deps, c);
      return c.body(body, 200, { 'Content-Type': type, 'Cache-Control': 'no-store' });
    });
  }
  for (const [route, { file, noun }] of Object.entries(PAGES)) {
    const body = read(file);
    app.get(route, async (c) => {
      await pageLogin(deps, c);
      const id = c.req.param('id') ?? '';
      if (!isUuid(id)) return c.body(notFoundPage(noun), 404, { 'Content-Type': HTML, 'Cache-Control': 'no-store' });
      return c.body(body, 200, { 'Content-Type': HTML, 'Cache-Control': 'no-store' });
    });
  }
  return app;
}

/** No user text goes into it: the id that was not found is not echoed. */
function notFoundPage(noun: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>No such ${noun} · jobfleet</title><link rel="stylesheet" href="/page.css"><link rel="stylesheet" href="/detail.css"></head>
<body><header><h1><a href="/">jobfleet</a></h1></header>
<main><p class="problem" id="problem">No such ${noun}: a ${noun}'s id is a UUID.</p></main></body></html>
`;
}
