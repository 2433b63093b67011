/**
 * /sprints: sprints of a product the caller can see. Stories join them by their own transition;
 * runs start from POST /sprints/{id}/runs (sprint-runs.routes.ts).
 */
import { z } from '@hono/zod-openapi';
import { callerOf } from '../../auth/caller.js';
import { getVisibleRow, listVisibleRows } from '../../backlog/backlog-rows.js';
import { visibleOwnership } from '../../backlog/ownership.js';
import { sprintMachine } from '../../machines/index.js';
import { sprintStatus } from '../../spelling/api-spelling.js';
import { createEntity, transition } from '../../transitions/index.js';
import type { ApiDeps } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { createRouter } from '../router.js';
import { NewSprint, Sprint, SprintUpdate, toApiSprint } from '../schemas/backlog.schemas.js';
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
import { rowRoutes } from './row.routes.js';
import { statusRoutes } from './status.routes.js';

const tags = ['sprints'];
const SprintQuery = z.object({ product_id: Uuid.optional(), status: apiEnumList(sprintStatus).optional(), limit: Limit, cursor: Cursor });

export function sprintRoutes(deps: ApiDeps) {
  const app = createRouter();

  app.openapi(
    authedRoute(['write'], {
      method: 'post',
      path: '/sprints',
      tags,
      summary: 'Create a sprint',
      request: { body: { content: { 'application/json': { schema: NewSprint } }, required: true } },
      responses: { 201: json(Sprint, 'The new sprint'), ...errorResponses(404, 409, 413, 422) },
    }),
    async (c) => {
      const caller = callerOf(c);
      const body = c.req.valid('json');
      const row = await deps.db.transaction().execute(async (trx) => {
        await visibleOwnership(trx, 'PRODUCT', body.product_id, caller.ownerId);
        return (await createEntity(trx, sprintMachine, body, { actorTokenId: caller.actorTokenId })).row;
      });
      return c.json(toApiSprint(row), 201);
    },
  );

  app.openapi(
    authedRoute(['read'], {
      method: 'get',
      path: '/sprints',
      tags,
      summary: 'List sprints, newest first',
      request: { query: SprintQuery },
      responses: { 200: json(pageOf(Sprint), 'A page of sprints'), ...errorResponses(422) },
    }),
    async (c) => {
      const { product_id, status, limit, cursor } = c.req.valid('query');
      const after = pageAfter(cursor);
      const page = await listVisibleRows(deps.db, 'SPRINT', {
        equals: { product_id },
        statuses: status,
        ownerId: callerOf(c).ownerId,
        page: { limit, after },
      });
      return c.json({ items: page.items.map(toApiSprint), next_cursor: nextCursor(page) }, 200);
    },
  );

  app.route(
    '/',
    rowRoutes(deps, { entity: 'SPRINT', path: 'sprints', noun: 'sprint', schema: Sprint, toApi: toApiSprint, update: SprintUpdate }),
  );

  app.route(
    '/',
    statusRoutes(deps, {
      entity: 'SPRINT',
      path: 'sprints',
      noun: 'sprint',
      machine: sprintMachine,
      spelling: sprintStatus,
      scopes: ['read'],
      statusOf: async (id, caller) => (await getVisibleRow(deps.db, 'SPRINT', id, caller.ownerId)).status,
    }),
  );

  app.openapi(
    authedRoute(['write'], {
      method: 'post',
      path: '/sprints/{id}/transitions',
      tags,
      summary: 'Move a sprint to another status',
      description: TRANSITIONS_DESCRIPTION,
      request: { params: IdParam, body: { content: { 'application/json': { schema: transitionBody(sprintStatus) } }, required: true } },
      responses: { 200: json(Sprint, 'The sprint in its new status'), ...errorResponses(404, 409, 422) },
    }),
    async (c) => {
      const caller = callerOf(c);
      const { id } = c.req.valid('param');
      const { to, reason } = c.req.valid('json');
      await visibleOwnership(deps.db, 'SPRINT', id, caller.ownerId);
      await deps.db.transaction().execute(async (trx) => {
        const { status } = await trx.selectFrom('sprints').select('status').where('id', '=', id).forUpdate().executeTakeFirstOrThrow();
        const context = { actorTokenId: caller.actorTokenId, reason: reason ?? null };
        await transition(trx, sprintMachine, { id, from: status, to: sprintStatus.fromApi(to)!, by: 'user', context });
      });
      return c.json(toApiSprint(await getVisibleRow(deps.db, 'SPRINT', id, caller.ownerId)), 200);
    },
  );

  return app;
}
