/**
 * /api/v1/schedules: recurring enqueues (SPEC "Fair shares and schedules"). A token sees and
 * changes its owner's schedules only (admins all; another owner's answers 404, as a missing one
 * does); making or changing one needs `enqueue`, as enqueueing does, and its firings enqueue as
 * that token for the subject's owner. The scheduler is installed as soon as the row commits; when
 * Redis is away, the sweeper installs it later.
 */
import { callerOf } from '../../auth/caller.js';
import { changeSchedule, createSchedule, deleteSchedule, getVisibleSchedule, listSchedules } from '../../schedules/index.js';
import { jobKind } from '../../spelling/api-spelling.js';
import type { ApiDeps } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { createRouter } from '../router.js';
import { errorResponses, IdParam, json, nextCursor, pageAfter, pageOf } from '../schemas/common.schemas.js';
import { NewSchedule, Schedule, ScheduleQuery, ScheduleUpdate, toApiSchedule } from '../schemas/schedule.schemas.js';

const tags = ['schedules'];

export function scheduleRoutes(deps: ApiDeps) {
  const app = createRouter();

  app.openapi(
    authedRoute(['enqueue'], {
      method: 'post',
      path: '/schedules',
      tags,
      summary: 'Make a schedule: a job of a kind for one subject, enqueued on a cron expression or every N ms',
      description:
        "Subjects by kind: idea_grill, idea_make_plan, plan_chat: idea_id; task_implementation: task_id; sprint_implementation: sprint_id (each firing starts a run). Exactly one of cron and every_ms. Each firing enqueues as an ordinary enqueue would (supersede rules, the owner's budget) and is recorded on the schedule (last_fired_at, last_job_id, or last_reason when it made no job).",
      request: { body: { content: { 'application/json': { schema: NewSchedule } }, required: true } },
      responses: { 201: json(Schedule, 'The schedule'), ...errorResponses(404, 413, 422, 503) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const row = await createSchedule(deps, { ...body, kind: jobKind.fromApi(body.kind)! }, callerOf(c));
      return c.json(toApiSchedule(row), 201);
    },
  );

  app.openapi(
    authedRoute(['read'], {
      method: 'get',
      path: '/schedules',
      tags,
      summary: 'List schedules, newest first, with their next and last firing',
      request: { query: ScheduleQuery },
      responses: { 200: json(pageOf(Schedule), 'A page of schedules'), ...errorResponses(422) },
    }),
    async (c) => {
      const { limit, cursor } = c.req.valid('query');
      const page = await listSchedules(deps.db, callerOf(c).ownerId, { limit, after: pageAfter(cursor) });
      const now = new Date();
      return c.json({ items: page.items.map((row) => toApiSchedule(row, now)), next_cursor: nextCursor(page) }, 200);
    },
  );

  app.openapi(
    authedRoute(['read'], {
      method: 'get',
      path: '/schedules/{id}',
      tags,
      summary: 'A schedule',
      request: { params: IdParam },
      responses: { 200: json(Schedule, 'The schedule'), ...errorResponses(404) },
    }),
    async (c) => c.json(toApiSchedule(await getVisibleSchedule(deps.db, c.req.valid('param').id, callerOf(c).ownerId)), 200),
  );

  app.openapi(
    authedRoute(['enqueue'], {
      method: 'patch',
      path: '/schedules/{id}',
      tags,
      summary: 'Change a schedule: its payload, timing (cron and every_ms replace each other), time zone, or enabled',
      request: { params: IdParam, body: { content: { 'application/json': { schema: ScheduleUpdate } }, required: true } },
      responses: { 200: json(Schedule, 'The schedule, changed'), ...errorResponses(404, 413, 422, 503) },
    }),
    async (c) => {
      const row = await changeSchedule(deps, c.req.valid('param').id, c.req.valid('json'), callerOf(c));
      return c.json(toApiSchedule(row), 200);
    },
  );

  app.openapi(
    authedRoute(['enqueue'], {
      method: 'delete',
      path: '/schedules/{id}',
      tags,
      summary: 'Delete a schedule and its record of firings; the jobs it made stay',
      request: { params: IdParam },
      responses: { 204: { description: 'Deleted' }, ...errorResponses(404) },
    }),
    async (c) => {
      await deleteSchedule(deps, c.req.valid('param').id, callerOf(c));
      return c.body(null, 204);
    },
  );

  return app;
}
