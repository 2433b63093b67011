/**
 * The two routes every backlog resource has for one row: read it (404 when the caller may not
 * see it) and edit its editable columns (statuses change only through transitions). Each
 * resource mounts them beside its own routes with its schemas; a resource whose edits have a
 * rule of their own says it in `beforeEdit`, inside the edit's transaction.
 */
import type { z } from '@hono/zod-openapi';
import { callerOf } from '../../auth/caller.js';
import { getVisibleRow, type Row, type TABLE_OF, updateColumns } from '../../backlog/backlog-rows.js';
import { visibleOwnership } from '../../backlog/ownership.js';
import type { Trx } from '../../db/database.js';
import type { ApiDeps } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { createRouter } from '../router.js';
import { errorResponses, IdParam, json } from '../schemas/common.schemas.js';

type Entity = keyof typeof TABLE_OF;

export interface RowRoutesOf<E extends Entity, S extends z.ZodType> {
  entity: E;
  /** The URL segment: /api/v1/{path}/{id}. */
  path: string;
  /** Singular noun for summaries. */
  noun: string;
  /** The row as the API shows it, and its mapper. */
  schema: S;
  toApi(row: Row<(typeof TABLE_OF)[E]>): z.infer<S>;
  /** The editable columns. */
  update: z.ZodType<Record<string, unknown>>;
  /** Refuses an edit the row's state forbids (throws an AppError); runs after the visibility check. */
  beforeEdit?(trx: Trx, id: string): Promise<void>;
}

export function rowRoutes<E extends Entity, S extends z.ZodType>(deps: ApiDeps, of: RowRoutesOf<E, S>) {
  const app = createRouter();
  const tags = [of.path];
  const article = /^[aeiou]/i.test(of.noun) ? 'An' : 'A';

  app.openapi(
    authedRoute(['read'], {
      method: 'get',
      path: `/${of.path}/{id}`,
      tags,
      summary: `${article} ${of.noun}`,
      request: { params: IdParam },
      responses: { 200: json(of.schema, `The ${of.noun}`), ...errorResponses(404) },
    }),
    async (c) => c.json(of.toApi(await getVisibleRow(deps.db, of.entity, c.req.valid('param').id, callerOf(c).ownerId)), 200),
  );

  app.openapi(
    authedRoute(['write'], {
      method: 'patch',
      path: `/${of.path}/{id}`,
      tags,
      summary: `Edit ${article.toLowerCase()} ${of.noun} (statuses change only through transitions)`,
      request: { params: IdParam, body: { content: { 'application/json': { schema: of.update } }, required: true } },
      responses: { 200: json(of.schema, `The ${of.noun}, edited`), ...errorResponses(404, 409, 413, 422) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const ownerId = callerOf(c).ownerId;
      const row = await deps.db.transaction().execute(async (trx) => {
        await visibleOwnership(trx, of.entity, id, ownerId);
        await of.beforeEdit?.(trx, id);
        return updateColumns(trx, of.entity, id, body);
      });
      return c.json(of.toApi(row), 200);
    },
  );

  return app;
}
