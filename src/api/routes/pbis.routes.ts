/**
 * /pbis: product backlog items, created under a product the caller can see (a hidden or missing
 * product answers 404 before anything is written). Their status moves through transitions.
 */
import { z } from '@hono/zod-openapi';
import { callerOf } from '../../auth/caller.js';
import { getVisibleRow, listVisibleRows } from '../../backlog/backlog-rows.js';
import { visibleOwnership } from '../../backlog/ownership.js';
import { pbiMachine } from '../../machines/index.js';
import { pbiStatus } from '../../spelling/api-spelling.js';
import { createEntity, transition } from '../../transitions/index.js';
import type { ApiDeps } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { createRouter } from '../router.js';
import { NewPbi, Pbi, PbiUpdate, toApiPbi } from '../schemas/backlog.schemas.js';
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

const tags = ['pbis'];
const PbiQuery = z.object({ product_id: Uuid.optional(), status: apiEnumList(pbiStatus).optional(), limit: Limit, cursor: Cursor });

export function pbiRoutes(deps: ApiDeps) {
  const app = createRouter();

  app.openapi(
    authedRoute(['write'], {
      method: 'post',
      path: '/pbis',
      tags,
      summary: 'Create a PBI',
      request: { body: { content: { 'application/json': { schema: NewPbi } }, required: true } },
      responses: { 201: json(Pbi, 'The new PBI'), ...errorResponses(404, 409, 413, 422) },
    }),
    async (c) => {
      const caller = callerOf(c);
      const body = c.req.valid('json');
      const row = await deps.db.transaction().execute(async (trx) => {
        await visibleOwnership(trx, 'PRODUCT', body.product_id, caller.ownerId);
        return (await createEntity(trx, pbiMachine, body, { actorTokenId: caller.actorTokenId })).row;
      });
      return c.json(toApiPbi(row), 201);
    },
  );

  app.openapi(
    authedRoute(['read'], {
      method: 'get',
      path: '/pbis',
      tags,
      summary: 'List pbis, newest first',
      request: { query: PbiQuery },
      responses: { 200: json(pageOf(Pbi), 'A page of pbis'), ...errorResponses(422) },
    }),
    async (c) => {
      const { product_id, status, limit, cursor } = c.req.valid('query');
      const after = pageAfter(cursor);
      const page = await listVisibleRows(deps.db, 'PBI', {
        equals: { product_id },
        statuses: status,
        ownerId: callerOf(c).ownerId,
        page: { limit, after },
      });
      return c.json({ items: page.items.map(toApiPbi), next_cursor: nextCursor(page) }, 200);
    },
  );

  app.route('/', rowRoutes(deps, { entity: 'PBI', path: 'pbis', noun: 'PBI', schema: Pbi, toApi: toApiPbi, update: PbiUpdate }));

  app.route(
    '/',
    statusRoutes(deps, {
      entity: 'PBI',
      path: 'pbis',
      noun: 'PBI',
      machine: pbiMachine,
      spelling: pbiStatus,
      scopes: ['read'],
      statusOf: async (id, caller) => (await getVisibleRow(deps.db, 'PBI', id, caller.ownerId)).status,
    }),
  );

  app.openapi(
    authedRoute(['write'], {
      method: 'post',
      path: '/pbis/{id}/transitions',
      tags,
      summary: 'Move a PBI to another status',
      description: TRANSITIONS_DESCRIPTION,
      request: { params: IdParam, body: { content: { 'application/json': { schema: transitionBody(pbiStatus) } }, required: true } },
      responses: { 200: json(Pbi, 'The PBI in its new status'), ...errorResponses(404, 409, 422) },
    }),
    async (c) => {
      const caller = callerOf(c);
      const { id } = c.req.valid('param');
      const { to, reason } = c.req.valid('json');
      await visibleOwnership(deps.db, 'PBI', id, caller.ownerId);
      await deps.db.transaction().execute(async (trx) => {
        const { status } = await trx.selectFrom('pbis').select('status').where('id', '=', id).forUpdate().executeTakeFirstOrThrow();
        const context = { actorTokenId: caller.actorTokenId, reason: reason ?? null };
        await transition(trx, pbiMachine, { id, from: status, to: pbiStatus.fromApi(to)!, by: 'user', context });
      });
      return c.json(toApiPbi(await getVisibleRow(deps.db, 'PBI', id, caller.ownerId)), 200);
    },
  );

  return app;
}
