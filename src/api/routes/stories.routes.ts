/**
 * /stories: user stories under a PBI the caller can see. A story joins a sprint by its
 * transition to in_sprint, which names the sprint (an active one of the same product); going back
 * to open takes it out again.
 */
import { z } from '@hono/zod-openapi';
import { type Caller, callerOf } from '../../auth/caller.js';
import { getVisibleRow, listVisibleRows } from '../../backlog/backlog-rows.js';
import { visibleOwnership } from '../../backlog/ownership.js';
import type { Trx } from '../../db/database.js';
import { AppError } from '../../errors/app-error.js';
import { storyMachine, type StoryStatus } from '../../machines/index.js';
import { storyStatus } from '../../spelling/api-spelling.js';
import { createEntity, transition } from '../../transitions/index.js';
import type { ApiDeps } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { createRouter } from '../router.js';
import { NewStory, Story, StoryUpdate, toApiStory } from '../schemas/backlog.schemas.js';
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

const tags = ['stories'];
const StoryQuery = z.object({
  pbi_id: Uuid.optional(),
  sprint_id: Uuid.optional(),
  status: apiEnumList(storyStatus).optional(),
  limit: Limit,
  cursor: Cursor,
});
const StoryTransition = transitionBody(storyStatus).extend({
  sprint_id: Uuid.optional().openapi({ description: 'the sprint, when the story goes in_sprint' }),
});

export function storyRoutes(deps: ApiDeps) {
  const app = createRouter();

  app.openapi(
    authedRoute(['write'], {
      method: 'post',
      path: '/stories',
      tags,
      summary: 'Create a story',
      request: { body: { content: { 'application/json': { schema: NewStory } }, required: true } },
      responses: { 201: json(Story, 'The new story'), ...errorResponses(404, 409, 413, 422) },
    }),
    async (c) => {
      const caller = callerOf(c);
      const body = c.req.valid('json');
      const row = await deps.db.transaction().execute(async (trx) => {
        await visibleOwnership(trx, 'PBI', body.pbi_id, caller.ownerId);
        return (await createEntity(trx, storyMachine, body, { actorTokenId: caller.actorTokenId })).row;
      });
      return c.json(toApiStory(row), 201);
    },
  );

  app.openapi(
    authedRoute(['read'], {
      method: 'get',
      path: '/stories',
      tags,
      summary: 'List stories, newest first',
      request: { query: StoryQuery },
      responses: { 200: json(pageOf(Story), 'A page of stories'), ...errorResponses(422) },
    }),
    async (c) => {
      const { pbi_id, sprint_id, status, limit, cursor } = c.req.valid('query');
      const after = pageAfter(cursor);
      const page = await listVisibleRows(deps.db, 'STORY', {
        equals: { pbi_id, sprint_id },
        statuses: status,
        ownerId: callerOf(c).ownerId,
        page: { limit, after },
      });
      return c.json({ items: page.items.map(toApiStory), next_cursor: nextCursor(page) }, 200);
    },
  );

  app.route(
    '/',
    rowRoutes(deps, { entity: 'STORY', path: 'stories', noun: 'story', schema: Story, toApi: toApiStory, update: StoryUpdate }),
  );

  app.route(
    '/',
    statusRoutes(deps, {
      entity: 'STORY',
      path: 'stories',
      noun: 'story',
      machine: storyMachine,
      spelling: storyStatus,
      scopes: ['read'],
      statusOf: async (id, caller) => (await getVisibleRow(deps.db, 'STORY', id, caller.ownerId)).status,
    }),
  );

  app.openapi(
    authedRoute(['write'], {
      method: 'post',
      path: '/stories/{id}/transitions',
      tags,
      summary: 'Move a story to another status',
      description: TRANSITIONS_DESCRIPTION,
      request: { params: IdParam, body: { content: { 'application/json': { schema: StoryTransition } }, required: true } },
      responses: { 200: json(Story, 'The story in its new status'), ...errorResponses(404, 409, 422) },
    }),
    async (c) => {
      const caller = callerOf(c);
      const { id } = c.req.valid('param');
      const { to, reason, sprint_id } = c.req.valid('json');
      await visibleOwnership(deps.db, 'STORY', id, caller.ownerId);
      await deps.db.transaction().execute(async (trx) => {
        const { status } = await trx.selectFrom('stories').select('status').where('id', '=', id).forUpdate().executeTakeFirstOrThrow();
        const target = storyStatus.fromApi(to)!;
        storyMachine.assertTransition(status, target, { by: 'user' });
        const set = await sprintOfStory(trx, id, target, sprint_id, caller);
        const context = { actorTokenId: caller.actorTokenId, reason: reason ?? null };
        await transition(trx, storyMachine, { id, from: status, to: target, by: 'user', set, context });
      });
      return c.json(toApiStory(await getVisibleRow(deps.db, 'STORY', id, caller.ownerId)), 200);
    },
  );

  return app;
}

/** The sprint column a story's transition writes: the named active sprint of its product, or none. */
async function sprintOfStory(
  trx: Trx,
  storyId: string,
  to: StoryStatus,
  sprintId: string | undefined,
  caller: Caller,
): Promise<{ sprint_id?: string | null }> {
  if (to === 'OPEN') return { sprint_id: null };
  if (to !== 'IN_SPRINT') {
    if (sprintId) throw invalid('sprint_id', 'only when the story goes in_sprint');
    return {};
  }
  if (!sprintId) throw invalid('sprint_id', 'required when the story goes in_sprint');
  const sprint = await visibleOwnership(trx, 'SPRINT', sprintId, caller.ownerId);
  const story = await visibleOwnership(trx, 'STORY', storyId, caller.ownerId);
  if (sprint.productId !== story.productId) throw invalid('sprint_id', 'the sprint belongs to another product than the story');
  const { status } = await trx.selectFrom('sprints').select('status').where('id', '=', sprintId).executeTakeFirstOrThrow();
  if (status !== 'ACTIVE')
    throw new AppError('status_conflict', `sprint ${sprintId} is ${status.toLowerCase()}; stories join active sprints only`, {
      current: status.toLowerCase(),
      allowed: ['active'],
    });
  return { sprint_id: sprintId };
}

function invalid(path: string, message: string): AppError {
  return new AppError('validation_failed', `invalid body: ${path}: ${message}`, { issues: [{ path, message }] });
}
