/**
 * Sprint runs: started from a sprint (POST /sprints/{id}/runs, after a pre-flight check that
 * lists every reason it cannot run), read with their progress and steps, and steered: pause,
 * resume, cancel (also as POST /sprint-runs/{id}/transitions).
 */
import { z } from '@hono/zod-openapi';
import { visibleOwnership } from '../../backlog/ownership.js';
import type { Executor } from '../../db/database.js';
import type { SprintRun as SprintRunRow } from '../../db/tables/sprint-run.table.js';
import { addToQueues } from '../../jobs/enqueue-jobs.js';
import { sprintRunMachine, type SprintRunStatus } from '../../machines/index.js';
import { commandFor, controlRun, type RunCommand } from '../../sprints/run-control.js';
import { runProgress } from '../../sprints/run-progress.js';
import { startSprintRun } from '../../sprints/start-sprint-run.js';
import { sprintRunMode } from '../../spelling/api-spelling.js';
import type { ApiDeps } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { answerOnce, IdempotencyHeaders } from '../idempotent-answer.js';
import { SprintRun, Step, toApiSprintRun, toApiStep } from '../schemas/backlog.schemas.js';
import { apiEnum, errorResponses, IdParam, json, Uuid } from '../schemas/common.schemas.js';
import { Job, toApiJob } from '../schemas/job.schemas.js';
import { callerOf, resourceRoutes } from './resource-routes.js';

async function runsWithProgress(db: Executor, rows: SprintRunRow[]) {
  const progress = await runProgress(db, rows.map((row) => row.id));
  return rows.map((row) => ({ ...toApiSprintRun(row), progress: progress.get(row.id)! }));
}

const presentRuns = (deps: ApiDeps, rows: SprintRunRow[]) => runsWithProgress(deps.db, rows);

export function sprintRunRoutes(deps: ApiDeps) {
  const app = resourceRoutes(deps, {
    entity: 'SPRINT_RUN',
    path: 'sprint-runs',
    noun: 'sprint run',
    schema: SprintRun,
    toApi: toApiSprintRun,
    present: presentRuns,
    filters: { sprint_id: Uuid.optional() },
    scopes: { write: ['enqueue'] },
    async applyTransition(deps_, id, to, reason, caller) {
      const command = commandFor(to as SprintRunStatus);
      if (!command) {
        // Not pause, resume or cancel: only the system goes there; the machine says what triggers it.
        const run = await deps_.db.selectFrom('sprint_runs').select('status').where('id', '=', id).executeTakeFirstOrThrow();
        sprintRunMachine.assertTransition(run.status, to as SprintRunStatus, { by: 'user' });
      }
      await controlRun(deps_, id, command!, { actorTokenId: caller.actorTokenId, reason });
    },
  });

  app.openapi(
    authedRoute(['enqueue'], {
      method: 'post',
      path: '/sprints/{id}/runs',
      tags: ['sprint-runs'],
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
      await visibleOwnership(deps.db, 'SPRINT', id, caller.ownerId);
      const mode = sprintRunMode.fromApi(c.req.valid('json').mode)!;
      const key = c.req.valid('header')['idempotency-key'];
      if (key) {
        return answerOnce(deps, c, key, c.req.valid('json'), async (trx) => {
          const started = await startSprintRun(trx, id, mode, caller.actorTokenId);
          const [run] = await runsWithProgress(trx, [started.run]);
          const body = { run: run!, steps: started.steps.map(toApiStep), job: toApiJob(started.job) };
          return { status: 202, body, afterCommit: () => addToQueues(deps, [started.job]) };
        });
      }
      const started = await deps.db.transaction().execute((trx) => startSprintRun(trx, id, mode, caller.actorTokenId));
      await addToQueues(deps, [started.job]);
      const [run] = await presentRuns(deps, [started.run]);
      return c.json({ run: run!, steps: started.steps.map(toApiStep), job: toApiJob(started.job) }, 202);
    },
  );

  app.openapi(
    authedRoute(['read'], {
      method: 'get',
      path: '/sprint-runs/{id}/steps',
      tags: ['sprint-runs'],
      summary: 'The run\'s steps in order',
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
        tags: ['sprint-runs'],
        summary,
        request: {
          params: IdParam,
          body: { content: { 'application/json': { schema: z.object({ reason: z.string().trim().min(1).max(2_000).optional() }).strict() } }, required: false },
        },
        responses: { 200: json(SprintRun, 'The run'), ...errorResponses(404, 409, 422) },
      }),
      async (c) => {
        const caller = callerOf(c);
        const { id } = c.req.valid('param');
        await visibleOwnership(deps.db, 'SPRINT_RUN', id, caller.ownerId);
        const run = await controlRun(deps, id, command, { actorTokenId: caller.actorTokenId, reason: c.req.valid('json').reason ?? null });
        const [presented] = await presentRuns(deps, [run]);
        return c.json(presented!, 200);
      },
    );
  commandRoute('pause', 'Pause: no new step starts; steps already running finish');
  commandRoute('resume', 'Resume a paused run where it stopped');
  commandRoute('cancel', 'Cancel: queued step jobs are cancelled, running agents aborted, remaining steps skipped');

  return app;
}
