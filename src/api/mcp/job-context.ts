/**
 * get_job's answer: the job as the REST API shows it, its subject (the idea, task or sprint run, as
 * the REST API shows it), the tasks of its sprint run when it has one, and the prompt it was built from.
 */
import { ownerScope, type Principal } from '../../auth/principal.js';
import { visibleOwnership } from '../../backlog/ownership.js';
import type { Executor } from '../../db/database.js';
import { AppError } from '../../errors/app-error.js';
import { getJob } from '../../jobs/claude-job.repository.js';
import type { ClaudeJob } from '../../db/tables/claude-job.table.js';
import { installedHandlerOf } from '../../jobs/installed-kinds.js';
import { toApiIdea, toApiSprintRun, toApiTask } from '../schemas/backlog.schemas.js';
import { toApiJob } from '../schemas/job.schemas.js';

/** A job the caller's token may see (its owner's; every owner's for admin and worker tokens), or 404. */
export async function visibleJob(db: Executor, principal: Principal, jobId: string | undefined): Promise<ClaudeJob> {
  if (!jobId) throw new AppError('validation_failed', 'job_id is required');
  await visibleOwnership(db, 'CLAUDE_JOB', jobId, ownerScope(principal));
  return getJob(db, jobId);
}

export async function jobContext(db: Executor, job: ClaudeJob) {
  const prompts = await installedHandlerOf(job.kind).buildPrompts(db, [job]);
  const runTasks = job.sprint_run_id
    ? await db
        .selectFrom('steps')
        .innerJoin('tasks', 'tasks.id', 'steps.task_id')
        .selectAll('tasks')
        .where('steps.sprint_run_id', '=', job.sprint_run_id)
        .orderBy('steps.position')
        .execute()
    : [];
  return {
    job: toApiJob(job),
    subject: await subjectOf(db, job),
    ...(job.sprint_run_id && { sprint_run_tasks: runTasks.map(toApiTask) }),
    prompt: prompts.get(job.id) ?? null,
  };
}

async function subjectOf(db: Executor, job: ClaudeJob) {
  if (job.idea_id) {
    const idea = await db.selectFrom('ideas').selectAll().where('id', '=', job.idea_id).executeTakeFirst();
    return idea ? toApiIdea(idea) : null;
  }
  if (job.task_id) {
    const task = await db.selectFrom('tasks').selectAll().where('id', '=', job.task_id).executeTakeFirst();
    return task ? toApiTask(task) : null;
  }
  const run = await db.selectFrom('sprint_runs').selectAll().where('id', '=', job.sprint_run_id!).executeTakeFirst();
  return run ? toApiSprintRun(run) : null;
}
