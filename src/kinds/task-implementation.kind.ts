/**
 * TASK_IMPLEMENTATION: an agent implements one task. Its onStarted / onFailed move the task to
 * IN_PROGRESS when the job starts (and to FAILED when it fails); a finished job moves it to
 * REVIEW, where verification (a user, or a sprint run) takes it on. Inside a sprint run the
 * task transitions carry the run's id.
 */
import { AppError } from '../errors/app-error.js';
import { taskMachine } from '../machines/index.js';
import { taskStatus } from '../spelling/api-spelling.js';
import { transition } from '../transitions/index.js';
import { completeStep } from '../sprints/step-outcome.js';
import { dispatchReadySteps } from '../sprints/dispatch-steps.js';
import { ids, type KindHandler, resultOf } from '../jobs/kind-handler.js';
import { taskJobCascade } from './job-task.cascade.js';
import { loadTaskBriefs, reportedFailure, taskPrompt } from '../sprints/task-prompt.js';

export const taskImplementationKind: KindHandler<'TASK_IMPLEMENTATION'> = {
  kind: 'TASK_IMPLEMENTATION',

  async onEnqueue(trx, jobs) {
    for (const job of jobs) {
      const task = await trx.selectFrom('tasks').select(['id', 'status']).where('id', '=', job.task_id!).forShare().executeTakeFirst();
      if (!task) throw new AppError('not_found', `task ${job.task_id} does not exist`, { task_id: job.task_id });
      if (task.status !== 'TO_DO' && task.status !== 'IN_PROGRESS') {
        throw new AppError(
          'status_conflict',
          `task ${task.id} is ${taskStatus.toApi(task.status)}; implementation needs it todo or in_progress`,
          {
            task_id: task.id,
            current: taskStatus.toApi(task.status),
            allowed: ['todo', 'in_progress'],
          },
        );
      }
    }
  },

  async buildPrompts(db, jobs) {
    const tasks = await loadTaskBriefs(db, ids(jobs, 'task_id'));
    return new Map(
      jobs.map((job) => [job.id, taskPrompt(tasks.get(job.task_id!)!, (job.payload as { instructions?: string }).instructions)]),
    );
  },

  onStarted: taskJobCascade,
  onFailed: taskJobCascade,
  judge(_job, output) {
    const failure = reportedFailure(output.data);
    if (failure) return { status: 'FAILED', error: { code: 'agent_failed', message: failure }, result: resultOf(output) };
    return { status: 'DONE', result: resultOf(output) };
  },

  async applyDone(trx, finished, context) {
    for (const { job, output } of finished) {
      const run = job.sprint_run_id
        ? await trx.selectFrom('sprint_runs').select(['id', 'status']).where('id', '=', job.sprint_run_id).executeTakeFirst()
        : undefined;
      const live = run?.status === 'RUNNING' || run?.status === 'PAUSED';
      const step = live
        ? await trx
            .selectFrom('steps')
            .select(['id', 'status'])
            .where('sprint_run_id', '=', run.id)
            .where('task_id', '=', job.task_id)
            .forUpdate()
            .executeTakeFirst()
        : undefined;
      if (run && live && step?.status === 'IN_PROGRESS') {
        // A step of a per-task run: complete it (its task goes to DONE) and dispatch what it unblocked.
        await completeStep(trx, { runId: run.id, stepId: step.id, taskId: job.task_id, actorTokenId: context.actorTokenId }, output);
        context.enqueued.push(...(await dispatchReadySteps(trx, run.id, context)));
        continue;
      }
      const task = await trx
        .selectFrom('tasks')
        .select(['id', 'status'])
        .where('id', '=', job.task_id!)
        .forUpdate()
        .executeTakeFirstOrThrow();
      if (task.status !== 'IN_PROGRESS') continue;
      await transition(trx, taskMachine, {
        id: task.id,
        from: 'IN_PROGRESS',
        to: 'REVIEW',
        trigger: 'implementation_done',
        context: {
          actorTokenId: context.actorTokenId,
          reason: `TASK_IMPLEMENTATION job ${job.id} finished`,
          artifacts: { job_id: job.id },
        },
      });
    }
  },
};
