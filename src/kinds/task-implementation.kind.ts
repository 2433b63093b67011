/**
 * TASK_IMPLEMENTATION: an agent implements one task. Its onStarted / onFailed move the task to
 * IN_PROGRESS when the job starts (and to FAILED when it fails); a finished job moves it to
 * REVIEW, where verification takes it on: the product's check when it has one
 * (src/kinds/verify-gate.ts), else a user, or inside a sprint run the agent's own report. Inside
 * a sprint run the task transitions carry the run's id. When the product names a repository the
 * agent works in a workspace of its own on branch jobfleet/task-<task> (src/jobs/workspace-run.ts).
 */
import { AppError } from '../errors/app-error.js';
import { taskStatus } from '../spelling/api-spelling.js';
import { completeStep } from '../sprints/step-outcome.js';
import { dispatchReadySteps } from '../sprints/dispatch-steps.js';
import { ids, type KindHandler, resultOf } from '../jobs/kind-handler.js';
import { taskJobCascade } from './job-task.cascade.js';
import { type CheckFailure, loadTaskBriefs, reportedFailure, taskPrompt } from '../sprints/task-prompt.js';
import { productRepository } from '../backlog/product-repository.js';
import { inWorkspace, publishAndCheck, workspacePrompt } from '../jobs/workspace-run.js';
import { reviewTask } from './verify-gate.js';

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
      jobs.map((job) => {
        const payload = job.payload as TaskJobPayload;
        return [job.id, taskPrompt(tasks.get(job.task_id!)!, payload.instructions, payload.verify)];
      }),
    );
  },

  /** In the product's repository when it names one (SPEC "Workspaces"); else where the worker runs. */
  async execute(context) {
    const { job, executor, signal, log } = context;
    const repository = await productRepository(context.db, job.product_id);
    const request = { jobId: job.id, kind: job.kind, prompt: context.prompt, signal, log, channel: context.channel, meter: context.meter };
    if (!repository) return executor.run(request);
    const run = { job, repository, branch: taskBranch(job.task_id!), settings: context.workspaces, signal, log };
    return inWorkspace(run, async (workspace) => {
      const output = await executor.run({ ...request, prompt: workspacePrompt(context.prompt, workspace, repository), workspace });
      const attempt = (job.payload as TaskJobPayload).verify?.attempt ?? 1;
      return publishAndCheck(run, workspace, output, { failed: reportedFailure(output.data) !== null, attempt });
    });
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
      const review = { job, taskId: job.task_id!, workspace: output.workspace, verify: output.verify };
      if (run && live && step?.status === 'IN_PROGRESS') {
        // A step of a per-task run: it completes when its task is verified, and dispatches what it unblocked.
        const end = { runId: run.id, stepId: step.id, taskId: job.task_id, actorTokenId: context.actorTokenId };
        if (!output.verify || output.verify.passed) {
          await completeStep(trx, end, output, review);
          context.enqueued.push(...(await dispatchReadySteps(trx, run.id, context)));
        } else {
          await reviewTask(trx, review, { ...context, step: end });
        }
        continue;
      }
      await reviewTask(trx, review, context);
    }
  },
};

type TaskJobPayload = { instructions?: string; verify?: CheckFailure };

/** The branch a task's work is pushed to, whichever job (or sprint run step) does it. */
export function taskBranch(taskId: string): string {
  return `jobfleet/task-${taskId}`;
}
