/**
 * SPRINT_IMPLEMENTATION: drives one sprint run. The ClaudeJob cascade starts the run when the job
 * starts (QUEUED -> RUNNING) and fails it when the job fails. The job runs the run's steps in
 * order (src/sprints/sprint-batch.ts); the cascades of its tasks complete the run when the last
 * task is done. What the job finishes with is kept as the run's result.
 */
import { AppError } from '../errors/app-error.js';
import { sprintRunMachine } from '../machines/index.js';
import { sprintRunStatus } from '../spelling/api-spelling.js';
import { runSprintBatch } from '../sprints/sprint-batch.js';
import { transition } from '../transitions/index.js';
import { type KindHandler, resultOf } from './kind-handler.js';

export const sprintImplementationKind: KindHandler<'SPRINT_IMPLEMENTATION'> = {
  kind: 'SPRINT_IMPLEMENTATION',

  async onEnqueue(trx, jobs) {
    for (const job of jobs) {
      const run = await trx.selectFrom('sprint_runs').select(['id', 'status']).where('id', '=', job.sprint_run_id!).forShare().executeTakeFirst();
      if (!run) throw new AppError('not_found', `sprint run ${job.sprint_run_id} does not exist`, { sprint_run_id: job.sprint_run_id });
      if (run.status !== 'QUEUED') {
        throw new AppError('status_conflict', `sprint run ${run.id} is ${sprintRunStatus.toApi(run.status)}; only a queued run takes a sprint job`, {
          sprint_run_id: run.id,
          current: sprintRunStatus.toApi(run.status),
          allowed: ['queued'],
        });
      }
    }
  },

  async buildPrompts(_db, jobs) {
    // Each step builds its own prompt from its task; the job itself has none.
    return new Map(jobs.map((job) => [job.id, { system: 'sprint run', user: `Sprint run ${job.sprint_run_id}` }]));
  },

  execute: (context) =>
    runSprintBatch({
      db: context.db,
      runId: context.job.sprint_run_id!,
      executor: context.executor,
      signal: context.signal,
      log: context.log,
      actorTokenId: context.actorTokenId,
    }),

  judge: (_job, output) => ({ status: 'DONE', result: resultOf(output) }),

  async applyDone(trx, finished, context) {
    for (const { job, output } of finished) {
      const run = await trx.selectFrom('sprint_runs').selectAll().where('id', '=', job.sprint_run_id!).forUpdate().executeTakeFirstOrThrow();
      const steps = await trx.selectFrom('steps').select(['status', 'agent', 'output']).where('sprint_run_id', '=', run.id).execute();
      const completed = steps.filter((step) => step.status === 'COMPLETED').length;
      const result = {
        success: completed === steps.length,
        steps_completed: completed,
        steps_total: steps.length,
        deferred: (output.data as { deferred?: string[] } | null)?.deferred ?? [],
        duration_seconds: run.started_at ? Math.round((Date.now() - run.started_at.getTime()) / 1000) : 0,
      };
      // The last task's cascade normally finished the run; a run with no tasks finishes here.
      if (run.status === 'RUNNING' && completed === steps.length) {
        await transition(trx, sprintRunMachine, {
          id: run.id,
          from: 'RUNNING',
          to: 'DONE',
          trigger: 'all_tasks_done',
          set: { finished_at: new Date().toISOString(), result },
          context: { actorTokenId: context.actorTokenId, reason: `SPRINT_IMPLEMENTATION job ${job.id} finished` },
        });
      } else {
        await trx.updateTable('sprint_runs').set({ result: JSON.stringify(result), updated_at: new Date() }).where('id', '=', run.id).execute();
      }
    }
  },
};
