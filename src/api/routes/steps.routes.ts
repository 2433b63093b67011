/**
 * /steps: the steps of sprint runs, made by the run (never created or edited through the API).
 * A user may still move a step where its machine lets users.
 */
import { z } from '@hono/zod-openapi';
import { callerOf } from '../../auth/caller.js';
import { getVisibleRow, listVisibleRows } from '../../backlog/backlog-rows.js';
import { visibleOwnership } from '../../backlog/ownership.js';
import { stepMachine } from '../../machines/index.js';
import { stepStatus } from '../../spelling/api-spelling.js';
import { transition } from '../../transitions/index.js';
import type { ApiDeps } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { createRouter } from '../router.js';
import { Step, toApiStep } from '../schemas/backlog.schemas.js';
import {
  apiEnumList,
  Cursor,
  errorResponses,
  IdParam,
  json,
  Limit,
  nextCursor,
  pageAfter,
  pageOf,
  Uuid,
} from '../schemas/common.schemas.js';
import { TRANSITIONS_DESCRIPTION, transitionBody } from '../schemas/transition.schemas.js';
import { statusRoutes } from './status.routes.js';

const tags = ['steps'];
const StepQuery = z.object({ sprint_run_id: Uuid.optional(), status: apiEnumList(stepStatus).optional(), limit: Limit, cursor: Cursor });

export function stepRoutes(deps: ApiDeps) {
  const app = createRouter();

  app.openapi(
    authedRoute(['read'], {
      method: 'get',
      path: '/steps',
      tags,
      summary: 'List steps, newest first',
      request: { query: StepQuery },
      responses: { 200: json(pageOf(Step), 'A page of steps'), ...errorResponses(422) },
    }),
    async (c) => {
      const { sprint_run_id, status, limit, cursor } = c.req.valid('query');
      const after = pageAfter(cursor);
      const page = await listVisibleRows(deps.db, 'STEP', {
        equals: { sprint_run_id },
        statuses: status,
        ownerId: callerOf(c).ownerId,
        page: { limit, after },
      });
      return c.json({ items: page.items.map(toApiStep), next_cursor: nextCursor(page) }, 200);
    },
  );

  app.openapi(
    authedRoute(['read'], {
      method: 'get',
      path: '/steps/{id}',
      tags,
      summary: 'A step',
      request: { params: IdParam },
      responses: { 200: json(Step, 'The step'), ...errorResponses(404) },
    }),
    async (c) => c.json(toApiStep(await getVisibleRow(deps.db, 'STEP', c.req.valid('param').id, callerOf(c).ownerId)), 200),
  );

  app.route(
    '/',
    statusRoutes(deps, {
      entity: 'STEP',
      path: 'steps',
      noun: 'step',
      machine: stepMachine,
      spelling: stepStatus,
      scopes: ['read'],
      statusOf: async (id, caller) => (await getVisibleRow(deps.db, 'STEP', id, caller.ownerId)).status,
    }),
  );

  app.openapi(
    authedRoute(['write'], {
      method: 'post',
      path: '/steps/{id}/transitions',
      tags,
      summary: 'Move a step to another status',
      description: TRANSITIONS_DESCRIPTION,
      request: { params: IdParam, body: { content: { 'application/json': { schema: transitionBody(stepStatus) } }, required: true } },
      responses: { 200: json(Step, 'The step in its new status'), ...errorResponses(404, 409, 422) },
    }),
    async (c) => {
      const caller = callerOf(c);
      const { id } = c.req.valid('param');
      const { to, reason } = c.req.valid('json');
      await visibleOwnership(deps.db, 'STEP', id, caller.ownerId);
      await deps.db.transaction().execute(async (trx) => {
        const { status } = await trx.selectFrom('steps').select('status').where('id', '=', id).forUpdate().executeTakeFirstOrThrow();
        const context = { actorTokenId: caller.actorTokenId, reason: reason ?? null };
        await transition(trx, stepMachine, { id, from: status, to: stepStatus.fromApi(to)!, by: 'user', context });
      });
      return c.json(toApiStep(await getVisibleRow(deps.db, 'STEP', id, caller.ownerId)), 200);
    },
  );

  return app;
}
