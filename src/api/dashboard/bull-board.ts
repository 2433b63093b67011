/**
 * Bull Board at /admin/queues, showing every kind's queue. It shows every owner's jobs, so it
 * answers only to those who see every owner: an admin gets the full board; a worker token gets a
 * read-only board, and any write it tries is refused here, on the server, whatever the page shows;
 * anyone else gets 403. Browsers log in with HTTP Basic auth (the dashboard credentials of the
 * configuration, or any name with a token as password); a write with that login from another
 * site's page is refused (src/api/same-origin.ts).
 *
 * The board's static files are found from its package, so it works whatever directory the
 * process starts from (as long as the process does not change directory after startup).
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { ExternalJobUrl, QueueJobJson } from '@bull-board/api/typings/app';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import { hasScope, isAdmin } from '../../auth/principal.js';
import { AppError } from '../../errors/app-error.js';
import type { JobQueues } from '../../queues/job-queues.js';
import type { ApiDeps, ApiEnv } from '../api-deps.js';
import { assertSameOrigin, isBrowserCredential, isWrite, requestOrigin } from '../same-origin.js';

export const BOARD_PATH = '/admin/queues';
const BROWSER_CHALLENGE = 'Basic realm="jobfleet", charset="UTF-8"';

/**
 * Each delivery's data is the jobfleet job's id ({ id }, src/queues/job-queues.ts): the board links
 * a job to its page from that, when it shows it, so no URL is ever stored with the job in Redis.
 */
function jobPage(job: QueueJobJson): ExternalJobUrl {
  const id = (job.data as { id?: unknown } | null)?.id;
  // Every delivery has its id; were one without it, the link leads to the fleet page instead.
  return typeof id === 'string'
    ? { displayText: 'Job page', href: `/jobs/${encodeURIComponent(id)}` }
    : { displayText: 'Fleet page', href: '/' };
}

function board(queues: JobQueues, readOnlyMode: boolean): Hono {
  const adapter = new HonoAdapter(serveStatic).setBasePath(BOARD_PATH);
  createBullBoard({
    queues: queues.all().map((queue) => new BullMQAdapter(queue, { readOnlyMode, externalJobUrl: jobPage })),
    serverAdapter: adapter,
    options: {
      uiConfig: {
        boardTitle: readOnlyMode ? 'jobfleet (read-only)' : 'jobfleet',
        miscLinks: [{ text: 'Fleet page', url: '/' }],
      },
    },
  });
  return new Hono().route(BOARD_PATH, adapter.registerPlugin());
}

export function bullBoardRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const full = board(deps.queues, false);
  const readOnly = board(deps.queues, true);
  const app = new Hono<ApiEnv>();
  app.all(`${BOARD_PATH}`, serve);
  app.all(`${BOARD_PATH}/*`, serve);
  return app;

  async function serve(c: import('hono').Context<ApiEnv>) {
    const authorization = c.req.header('authorization');
    if (isBrowserCredential(authorization) && isWrite(c.req.method)) assertSameOrigin(requestOrigin(c));
    const principal = await deps.auth.fromHeader(authorization);
    if (!principal) {
      c.header('WWW-Authenticate', BROWSER_CHALLENGE);
      throw new AppError('unauthorized', 'log in to the dashboard (HTTP Basic auth, or a bearer token)');
    }
    // The board lists every owner's jobs with their payloads: only for those who see every owner.
    if (!hasScope(principal, ['worker'])) {
      throw new AppError('forbidden', "Bull Board shows every owner's jobs: it needs the admin or worker scope");
    }
    const admin = isAdmin(principal);
    if (!admin && c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      throw new AppError('forbidden', 'the dashboard is read-only for this login; only admins change queues');
    }
    return (admin ? full : readOnly).fetch(withoutTrailingSlash(c.req.raw));
  }
}

/** The board routes its entry page without a trailing slash (Hono is strict); `/admin/queues/` is the same page. */
function withoutTrailingSlash(request: Request): Request {
  const url = new URL(request.url);
  if (url.pathname !== `${BOARD_PATH}/`) return request;
  url.pathname = BOARD_PATH;
  return new Request(url, request);
}
