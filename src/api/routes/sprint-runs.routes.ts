/**
 * Sprint runs: started from a sprint (POST /sprints/{id}/runs, after a pre-flight check that
 * lists every reason it cannot run), read with their progress and steps, and steered: pause,
 * resume, cancel (also as POST /sprint-runs/{id}/transitions).
 */
import { z } from '@hono/zod-openapi';
import { callerOf } from '../../auth/caller.js';
import { refuseSpentOwners } from '../../budgets/owner-budgets.js';
import { enqueuerOf } from '../enqueuer.js';
import { getVisibleRow, listVisibleRows } from '../../backlog/backlog-rows.js';
import { visibleOwnership } from '../../backlog/ownership.js';
import type { Executor } from '../../db/database.js';
import type { SprintRun as SprintRunRow } from '../../db/tables/sprint-run.table.js';
import { addToQueues } from '../../jobs/enqueue-jobs.js';
import { sprintRunMachine } from '../../machines/index.js';
import { commandFor, controlRun, type RunCommand } from '../../sprints/run-control.js';
import { runProgress } from '../../sprints/run-progress.js';
import { startSprintRun } from '../../sprints/start-sprint-run.js';
import { sprintRunMode, sprintRunStatus } from '../../spelling/api-spelling.js';
import type { ApiDeps } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { answerOnce, IdempotencyHeaders } from '../idempotent-answer.js';
import { createRouter } from '../router.js';
import { SprintRun, Step, toApiSprintRun, toApiStep } from '../schemas/backlog.schemas.js';
import {
  apiEnum,
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
import { Job, toApiJob } from '../schemas/job.schemas.js';
import { TRANSITIONS_DESCRIPTION, transitionBody } from '../schemas/transition.schemas.js';
import { statusRoutes } from './status.routes.js';

async function runsWithProgress(db: Executor, rows: SprintRunRow[]) {
  const progress = await runProgress(
    db,
    rows.map((row) => row.id),
  );
  return rows.map((row) => ({ ...toApiSprintRun(row), progress: progress.get(row.id)! }));
}

async function runWithProgress(db: Executor, row: SprintRunRow) {
  const [run] = await runsWithProgress(db, [row]);
  return run!;
}

const tags = ['sprint-runs'];
const SprintRunQuery = z.object({
  sprint_id: Uuid.optional(),
  status: apiEnumList(sprintRunStatus).optional(),
  limit: Limit,
  cursor: Cursor,
});

export function sprintRunRoutes(deps: ApiDeps) {
  const app = createRouter();

  app.openapi(
    authedRoute(['read'], {
      method: 'get',
      path: '/sprint-runs',
      tags,
      summary: 'List sprint-runs, newest first',
      request: { query: SprintRunQuery },
      responses: { 200: json(pageOf(SprintRun), 'A page of sprint-runs'), ...errorResponses(422) },
    }),
    async (c) => {
      const { sprint_id, status, limit, cursor } = c.req.valid('query');
      const after = pageAfter(cursor);
      const page = await listVisibleRows(deps.db, 'SPRINT_RUN', {
        equals: { sprint_id },
        statuses: status,
        ownerId: callerOf(c).ownerId,
        page: { limit, after },
      });
      return c.json({ items: await runsWithProgress(deps.db, page.items), next_cursor: nextCursor(page) }, 200);
    },
  );

  app.openapi(
    authedRoute(['read'], {
      method: 'get',
      path: '/sprint-runs/{id}',
      tags,
      summary: 'A sprint run',
      request: { params: IdParam },
      responses: { 200: json(SprintRun, 'The sprint run'), ...errorResponses(404) },
    }),
    async (c) =>
      c.json(await runWithProgress(deps.db, await getVisibleRow(deps.db, 'SPRINT_RUN', c.req.valid('param').id, callerOf(c).ownerId)), 200),
  );

  app.route(
    '/',
    statusRoutes(deps, {
      entity: 'SPRINT_RUN',
      path: 'sprint-runs',
      noun: 'sprint run',
      machine: sprintRunMachine,
      spelling: sprintRunStatus,
      scopes: ['read'],
      statusOf: async (id, caller) => (await getVisibleRow(deps.db, 'SPRINT_RUN', id, caller.ownerId)).status,
    }),
  );

  app.openapi(
    authedRoute(['enqueue'], {
      method: 'post',
      path: '/sprint-runs/{id}/transitions',
      tags,
      summary: 'Move a sprint run to another status',
      description: TRANSITIONS_DESCRIPTION,
      request: { params: IdParam, body: { content: { 'application/json': { schema: transitionBody(sprintRunStatus) } }, required: true } },
      responses: { 200: json(SprintRun, 'The sprint run in its new status'), ...errorResponses(404, 409, 422) },
    }),
    async (c) => {
      const caller = callerOf(c);
      const { id } = c.req.valid('param');
      const { to, reason } = c.req.valid('json');
      await visibleOwnership(deps.db, 'SPRINT_RUN', id, caller.ownerId);
      const target = sprintRunStatus.fromApi(to)!;
      const command = commandFor(target);
      if (!command) {
        // Not pause, resume or cancel: only the system goes there; the machine says what triggers it.
        const run = await deps.db.selectFrom('sprint_runs').select('status').where('id', '=', id).executeTakeFirstOrThrow();
        sprintRunMachine.assertTransition(run.status, target, { by: 'user' });
      }
      await controlRun(deps, id, command!, { actorTokenId: caller.actorTokenId, reason: reason ?? null });
      return c.json(await runWithProgress(deps.db, await getVisibleRow(deps.db, 'SPRINT_RUN', id, caller.ownerId)), 200);
    },
  );

  app.openapi(
    authedRoute(['enqueue'], {
      method: 'post',
      path: '/sprints/{id}/runs',
      tags,
      summary: 'Start a sprint run: one step per unfinished task, in dependency order',
      description:
        'per_task: one task_implementation job per step, each dispatched once the steps it depends on are completed. sprint_batch: one job runs the steps in order. Refused with 422 listing every reason when a task lacks an implementation plan, a PBI is blocked or failed, a run is already active, and the like.',
      request: {
        params: IdParam,
        headers: IdempotencyHeaders,
        body: { content: { 'application/json': { schema: z.object({ mode: apiEnum(sprintRunMode) }).strict() } }, required: true },
      },
      responses: {
        202: json(z.object({ run: SprintRun, steps: z.array(Step), job: Job }), 'The run (queued), its steps and the job that drives it'),
        ...errorResponses(404, 409, 422),
      },
    }),
    async (c) => {
      const caller = callerOf(c);
      const { id } = c.req.valid('param');
      const { productId } = await visibleOwnership(deps.db, 'SPRINT', id, caller.ownerId);
      // A run is an enqueue: an owner whose day is spent is refused before anything starts.
      await refuseSpentOwners(deps.db, [productId], enqueuerOf(c, deps).budgetDay);
      const mode = sprintRunMode.fromApi(c.req.valid('json').mode)!;
      const key = c.req.valid('header')['idempotency-key'];
      if (key) {
        return answerOnce(deps, c, key, c.req.valid('json'), async (trx) => {
          const started = await startSprintRun(trx, id, mode, caller.actorTokenId);
          const run = await runWithProgress(trx, started.run);
          const body = { run, steps: started.steps.map(toApiStep), job: toApiJob(started.job) };
          return { status: 202, body, afterCommit: () => addToQueues(deps, [started.job]) };
        });
      }
      const started = await deps.db.transaction().execute((trx) => startSprintRun(trx, id, mode, caller.actorTokenId));
      await addToQueues(deps, [started.job]);
      const run = await runWithProgress(deps.db, started.run);
      return c.json({ run, steps: started.steps.map(toApiStep), job: toApiJob(started.job) }, 202);
    },
  );

  app.openapi(
    authedRoute(['read'], {
      method: 'get',
      path: '/sprint-runs/{id}/steps',
      tags,
      summary: "The run's steps in order",
      request: { params: IdParam },
      responses: { 200: json(z.object({ items: z.array(Step) }), 'The steps'), ...errorResponses(404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await visibleOwnership(deps.db, 'SPRINT_RUN', id, callerOf(c).ownerId);
      const steps = await deps.db.selectFrom('steps').selectAll().where('sprint_run_id', '=', id).orderBy('position').execute();
      return c.json({ items: steps.map(toApiStep) }, 200);
    },
  );

  const commandRoute = (command: RunCommand, summary: string) =>
    app.openapi(
      authedRoute(['enqueue'], {
        method: 'post',
        path: `/sprint-runs/{id}/${command}`,
        tags,
        summary,
        request: {
          params: IdParam,
          body: {
            content: { 'application/json': { schema: z.object({ reason: z.string().trim().min(1).max(2_000).optional() }).strict() } },
            required: false,
          },
        },
        responses: { 200: json(SprintRun, 'The run'), ...errorResponses(404, 409, 422) },
      }),
      async (c) => {
        const caller = callerOf(c);
        const { id } = c.req.valid('param');
        const { productId } = await visibleOwnership(deps.db, 'SPRINT_RUN', id, caller.ownerId);
        // A resume enqueues the job that drives the run again: a spent owner is refused, as on start.
        if (command === 'resume') await refuseSpentOwners(deps.db, [productId], enqueuerOf(c, deps).budgetDay);
        const run = await controlRun(deps, id, command, { actorTokenId: caller.actorTokenId, reason: c.req.valid('json').reason ?? null });
        return c.json(await runWithProgress(deps.db, run), 200);
      },
    );
  commandRoute('pause', 'Pause: no new step starts; steps already running finish');
  commandRoute('resume', 'Resume a paused run where it stopped');
  commandRoute('cancel', 'Cancel: queued step jobs are cancelled, running agents aborted, remaining steps skipped');

  return app;
}
