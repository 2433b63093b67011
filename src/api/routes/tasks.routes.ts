/**
 * /tasks: tasks under a story the caller can see. A new task joins its story's sprint (tasks
 * carry the sprint id of their story). Their dependencies live in task-dependencies.routes.ts.
 */
import { z } from '@hono/zod-openapi';
import { callerOf } from '../../auth/caller.js';
import { getVisibleRow, listVisibleRows } from '../../backlog/backlog-rows.js';
import { visibleOwnership } from '../../backlog/ownership.js';
import { taskMachine } from '../../machines/index.js';
import { taskStatus } from '../../spelling/api-spelling.js';
import { createEntity, transition } from '../../transitions/index.js';
import type { ApiDeps } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { createRouter } from '../router.js';
import { NewTask, Task, TaskUpdate, toApiTask } from '../schemas/backlog.schemas.js';
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

const tags = ['tasks'];
const TaskQuery = z.object({
  story_id: Uuid.optional(),
  sprint_id: Uuid.optional(),
  status: apiEnumList(taskStatus).optional(),
  limit: Limit,
  cursor: Cursor,
});

export function taskRoutes(deps: ApiDeps) {
  const app = createRouter();

  app.openapi(
    authedRoute(['write'], {
      method: 'post',
      path: '/tasks',
      tags,
      summary: 'Create a task',
      request: { body: { content: { 'application/json': { schema: NewTask } }, required: true } },
      responses: { 201: json(Task, 'The new task'), ...errorResponses(404, 409, 413, 422) },
    }),
    async (c) => {
      const caller = callerOf(c);
      const body = c.req.valid('json');
      const row = await deps.db.transaction().execute(async (trx) => {
        const story = await trx.selectFrom('stories').select('sprint_id').where('id', '=', body.story_id).executeTakeFirst();
        // Checked before anything is written or answered: a hidden story is a 404.
        await visibleOwnership(trx, 'STORY', body.story_id, caller.ownerId);
        const values = { ...body, sprint_id: story?.sprint_id ?? null };
        return (await createEntity(trx, taskMachine, values, { actorTokenId: caller.actorTokenId })).row;
      });
      return c.json(toApiTask(row), 201);
    },
  );

  app.openapi(
    authedRoute(['read'], {
      method: 'get',
      path: '/tasks',
      tags,
      summary: 'List tasks, newest first',
      request: { query: TaskQuery },
      responses: { 200: json(pageOf(Task), 'A page of tasks'), ...errorResponses(422) },
    }),
    async (c) => {
      const { story_id, sprint_id, status, limit, cursor } = c.req.valid('query');
      const after = pageAfter(cursor);
      const page = await listVisibleRows(deps.db, 'TASK', {
        equals: { story_id, sprint_id },
        statuses: status,
        ownerId: callerOf(c).ownerId,
        page: { limit, after },
      });
      return c.json({ items: page.items.map(toApiTask), next_cursor: nextCursor(page) }, 200);
    },
  );

  app.route('/', rowRoutes(deps, { entity: 'TASK', path: 'tasks', noun: 'task', schema: Task, toApi: toApiTask, update: TaskUpdate }));

  app.route(
    '/',
    statusRoutes(deps, {
      entity: 'TASK',
      path: 'tasks',
      noun: 'task',
      machine: taskMachine,
      spelling: taskStatus,
      scopes: ['read'],
      statusOf: async (id, caller) => (await getVisibleRow(deps.db, 'TASK', id, caller.ownerId)).status,
    }),
  );

  app.openapi(
    authedRoute(['write'], {
      method: 'post',
      path: '/tasks/{id}/transitions',
      tags,
      summary: 'Move a task to another status',
      description: TRANSITIONS_DESCRIPTION,
      request: { params: IdParam, body: { content: { 'application/json': { schema: transitionBody(taskStatus) } }, required: true } },
      responses: { 200: json(Task, 'The task in its new status'), ...errorResponses(404, 409, 422) },
    }),
    async (c) => {
      const caller = callerOf(c);
      const { id } = c.req.valid('param');
      const { to, reason } = c.req.valid('json');
      await visibleOwnership(deps.db, 'TASK', id, caller.ownerId);
      await deps.db.transaction().execute(async (trx) => {
        const { status } = await trx.selectFrom('tasks').select('status').where('id', '=', id).forUpdate().executeTakeFirstOrThrow();
        const context = { actorTokenId: caller.actorTokenId, reason: reason ?? null };
        await transition(trx, taskMachine, { id, from: status, to: taskStatus.fromApi(to)!, by: 'user', context });
      });
      return c.json(toApiTask(await getVisibleRow(deps.db, 'TASK', id, caller.ownerId)), 200);
    },
  );

  return app;
}
