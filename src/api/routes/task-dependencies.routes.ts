/** /tasks/{id}/dependencies: the tasks a task waits for; adding one that closes a cycle is a 422. */
import { z } from '@hono/zod-openapi';
import { callerOf } from '../../auth/caller.js';
import { visibleOwnership } from '../../backlog/ownership.js';
import { addDependency, removeDependency } from '../../backlog/task-dependencies.js';
import { AppError } from '../../errors/app-error.js';
import type { ApiDeps } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { createRouter } from '../router.js';
import { Task, toApiTask } from '../schemas/backlog.schemas.js';
import { errorResponses, IdParam, isUuid, json, Uuid } from '../schemas/common.schemas.js';

const tags = ['tasks'];
const Dependencies = z.object({ items: z.array(Task) }).openapi('TaskDependencies');

export function taskDependencyRoutes(deps: ApiDeps) {
  const app = createRouter();

  const list = async (taskId: string) => {
    const rows = await deps.db
      .selectFrom('task_dependencies as d')
      .innerJoin('tasks', 'tasks.id', 'd.depends_on_task_id')
      .selectAll('tasks')
      .where('d.task_id', '=', taskId)
      .orderBy('tasks.sort_order')
      .orderBy('tasks.created_at')
      .execute();
    return { items: rows.map(toApiTask) };
  };

  app.openapi(
    authedRoute(['read'], {
      method: 'get',
      path: '/tasks/{id}/dependencies',
      tags,
      summary: 'The tasks this task depends on',
      request: { params: IdParam },
      responses: { 200: json(Dependencies, 'Its dependencies'), ...errorResponses(404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await visibleOwnership(deps.db, 'TASK', id, callerOf(c).ownerId);
      return c.json(await list(id), 200);
    },
  );

  app.openapi(
    authedRoute(['write'], {
      method: 'post',
      path: '/tasks/{id}/dependencies',
      tags,
      summary: 'Make this task depend on another task of its product',
      request: {
        params: IdParam,
        body: { content: { 'application/json': { schema: z.object({ depends_on_task_id: Uuid }).strict() } }, required: true },
      },
      responses: {
        201: json(Dependencies, 'Its dependencies, with the new one'),
        200: json(Dependencies, 'It already depended on that task'),
        ...errorResponses(404, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { depends_on_task_id } = c.req.valid('json');
      const outcome = await deps.db.transaction().execute((trx) => addDependency(trx, id, depends_on_task_id, callerOf(c).ownerId));
      return c.json(await list(id), outcome === 'added' ? 201 : 200);
    },
  );

  app.openapi(
    authedRoute(['write'], {
      method: 'delete',
      path: '/tasks/{id}/dependencies/{depends_on_task_id}',
      tags,
      summary: 'Remove a dependency',
      request: {
        params: IdParam.extend({ depends_on_task_id: z.string().openapi({ param: { name: 'depends_on_task_id', in: 'path' } }) }),
      },
      responses: { 204: { description: 'Removed' }, ...errorResponses(404) },
    }),
    async (c) => {
      const { id, depends_on_task_id } = c.req.valid('param');
      const removed =
        isUuid(depends_on_task_id) &&
        (await deps.db.transaction().execute((trx) => removeDependency(trx, id, depends_on_task_id, callerOf(c).ownerId)));
      if (!removed) throw new AppError('not_found', `task ${id} does not depend on ${depends_on_task_id}`);
      return c.body(null, 204);
    },
  );

  return app;
}
