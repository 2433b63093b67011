/**
 * update_task_status: an agent moves a task of its own job through the door, as a person could
 * (the user edges of the task machine). Its own task is the subject of a TASK_IMPLEMENTATION job;
 * inside a sprint run, every task of the run is its job's too, and the change carries the run's
 * id so that the task cascade checks the run owns the task and propagates to the run.
 */
import { sql } from 'kysely';
import type { Trx } from '../../db/database.js';
import type { ClaudeJob } from '../../db/tables/claude-job.table.js';
import { AppError } from '../../errors/app-error.js';
import { taskMachine } from '../../machines/index.js';
import { taskStatus } from '../../spelling/api-spelling.js';
import { transition } from '../../transitions/index.js';

export interface TaskStatusChange {
  taskId: string;
  /** API spelling. */
  status: string;
  reason?: string | undefined;
}

/** Run it in the transaction that holds the job's row (src/jobs/job-holder.ts, `lock`). */
export async function updateTaskStatus(trx: Trx, job: ClaudeJob, change: TaskStatusChange) {
  const to = taskStatus.fromApi(change.status);
  if (!to)
    throw new AppError('validation_failed', `status ${change.status} is not a task status; allowed: ${taskStatus.apiValues.join(', ')}`);
  const runId = job.sprint_run_id;
  const own =
    change.taskId === job.task_id ||
    (runId !== null &&
      (
        await sql<{ found: number }>`SELECT 1 AS found FROM steps WHERE sprint_run_id = ${runId} AND task_id = ${change.taskId}`.execute(
          trx,
        )
      ).rows.length > 0);
  // Another job's task answers as a task that does not exist: a job token learns nothing of the rest.
  if (!own) throw new AppError('not_found', `task ${change.taskId} is not a task of job ${job.id}`, { task_id: change.taskId });
  const task = await trx.selectFrom('tasks').select('status').where('id', '=', change.taskId).forUpdate().executeTakeFirst();
  if (!task) throw new AppError('not_found', `task ${change.taskId} does not exist`, { task_id: change.taskId });
  const { row } = await transition(trx, taskMachine, {
    id: change.taskId,
    from: task.status,
    to,
    by: 'user',
    context: {
      actorTokenId: job.claimed_by_token_id,
      reason: change.reason ?? `the agent of job ${job.id} moved it`,
      artifacts: { job_id: job.id },
      sprintRunId: runId,
    },
  });
  return { id: row.id, status: taskStatus.toApi(row.status) };
}
