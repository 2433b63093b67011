/**
 * The two read routes every backlog entity with a state machine has: its history (every status
 * change, oldest first) and the transitions open from its current status. Each resource mounts
 * them beside its own routes; its user transitions it writes itself, as they differ per entity.
 */
import { type Caller, callerOf } from '../../auth/caller.js';
import type { Scope } from '../../auth/principal.js';
import { visibleOwnership } from '../../backlog/ownership.js';
import type { EntityType, Machine } from '../../machines/index.js';
import type { Spelling } from '../../util/define-spelling.js';
import { listHistory } from '../../transitions/index.js';
import type { ApiDeps } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { createRouter } from '../router.js';
import { errorResponses, IdParam, json } from '../schemas/common.schemas.js';
import { History, toApiHistory } from '../schemas/history.schemas.js';
import { ValidTransitions, validTransitions } from '../schemas/transition.schemas.js';

export interface StatusRoutesOf<S extends string> {
  entity: Exclude<EntityType, 'CLAUDE_JOB' | 'PROVIDER'>;
  /** The URL segment: /api/v1/{path}/{id}/history. */
  path: string;
  /** Singular noun for summaries. */
  noun: string;
  machine: Machine<string, string, S>;
  spelling: Spelling<S, string>;
  scopes: readonly Scope[];
  /** The row's current status, or not_found when the caller may not see it. */
  statusOf(id: string, caller: Caller): Promise<S>;
}

export function statusRoutes<S extends string>(deps: ApiDeps, of: StatusRoutesOf<S>) {
  const app = createRouter();
  const tags = [of.path];

  app.openapi(
    authedRoute(of.scopes, {
      method: 'get',
      path: `/${of.path}/{id}/history`,
      tags,
      summary: `Every status change of a ${of.noun}, oldest first`,
      request: { params: IdParam },
      responses: { 200: json(History, 'The history'), ...errorResponses(404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await visibleOwnership(deps.db, of.entity, id, callerOf(c).ownerId);
      return c.json({ items: (await listHistory(deps.db, of.entity, id)).map(toApiHistory) }, 200);
    },
  );

  app.openapi(
    authedRoute(of.scopes, {
      method: 'get',
      path: `/${of.path}/{id}/valid-transitions`,
      tags,
      summary: `What a user may move a ${of.noun} to from its current status`,
      request: { params: IdParam },
      responses: {
        200: json(ValidTransitions, 'The current status, the user transitions from it, and what the system may do'),
        ...errorResponses(404),
      },
    }),
    async (c) => {
      const status = await of.statusOf(c.req.valid('param').id, callerOf(c));
      return c.json(validTransitions(of.machine, of.spelling, status), 200);
    },
  );

  return app;
}
