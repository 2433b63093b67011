/**
 * /products: the roots of the backlog. A token creates products for its own owner; an admin
 * (who sees every owner) names whose. Products have no state machine.
 */
import { z } from '@hono/zod-openapi';
import { type Caller, callerOf } from '../../auth/caller.js';
import { listVisibleRows } from '../../backlog/backlog-rows.js';
import { insertProduct } from '../../backlog/product.repository.js';
import { AppError } from '../../errors/app-error.js';
import type { ApiDeps } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { createRouter } from '../router.js';
import { rowRoutes } from './row.routes.js';
import { NewProduct, Product, ProductUpdate, toApiProduct } from '../schemas/backlog.schemas.js';
import { Cursor, errorResponses, json, Limit, nextCursor, pageAfter, pageOf } from '../schemas/common.schemas.js';

const tags = ['products'];
const ProductQuery = z.object({ owner_id: z.string().max(200).optional(), limit: Limit, cursor: Cursor });

export function productRoutes(deps: ApiDeps) {
  const app = createRouter();

  app.openapi(
    authedRoute(['write'], {
      method: 'post',
      path: '/products',
      tags,
      summary: 'Create a product',
      request: { body: { content: { 'application/json': { schema: NewProduct } }, required: true } },
      responses: { 201: json(Product, 'The new product'), ...errorResponses(404, 409, 413, 422) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const owner = ownerFor(body.owner_id, callerOf(c));
      const row = await insertProduct(deps.db, { ...body, owner_id: owner });
      return c.json(toApiProduct(row), 201);
    },
  );

  app.openapi(
    authedRoute(['read'], {
      method: 'get',
      path: '/products',
      tags,
      summary: 'List products, newest first',
      request: { query: ProductQuery },
      responses: { 200: json(pageOf(Product), 'A page of products'), ...errorResponses(422) },
    }),
    async (c) => {
      const { owner_id, limit, cursor } = c.req.valid('query');
      const after = pageAfter(cursor);
      const page = await listVisibleRows(deps.db, 'PRODUCT', {
        equals: { owner_id },
        ownerId: callerOf(c).ownerId,
        page: { limit, after },
      });
      return c.json({ items: page.items.map(toApiProduct), next_cursor: nextCursor(page) }, 200);
    },
  );

  app.route(
    '/',
    rowRoutes(deps, { entity: 'PRODUCT', path: 'products', noun: 'product', schema: Product, toApi: toApiProduct, update: ProductUpdate }),
  );

  return app;
}

/** Only an admin (who sees every owner) may create a product for someone else. */
function ownerFor(requested: string | undefined, caller: Caller): string {
  if (caller.ownerId === null) {
    if (!requested)
      throw new AppError('validation_failed', 'an admin creating a product must say whose: owner_id', {
        issues: [{ path: 'owner_id', message: 'required for admin tokens' }],
      });
    return requested;
  }
  if (requested !== undefined && requested !== caller.ownerId) {
    throw new AppError('forbidden', 'only admin tokens create products for another owner');
  }
  return caller.ownerId;
}
