/** get_job's answer: the job as the REST API shows it, its subject, and the prompt it was built from. */
import type { Executor } from '../../db/database.js';
import type { ClaudeJob } from '../../db/tables/claude-job.table.js';
import { installedHandlerOf } from '../../jobs/installed-kinds.js';
import { toApiIdea, toApiSprintRun, toApiTask } from '../schemas/backlog.schemas.js';
import { toApiJob } from '../schemas/job.schemas.js';

export async function jobContext(db: Executor, job: ClaudeJob) {
  const prompts = await installedHandlerOf(job.kind).buildPrompts(db, [job]);
  return { job: toApiJob(job), subject: await subjectOf(db, job), prompt: prompts.get(job.id) ?? null };
}

async function subjectOf(db: Executor, job: ClaudeJob) {
  if (job.idea_id) {
    const idea = await db.selectFrom('ideas').selectAll().where('id', '=', job.idea_id).executeTakeFirst();
    return idea ? { type: 'idea', idea: toApiIdea(idea) } : null;
  }
  if (job.task_id) {
    const task = await db.selectFrom('tasks').selectAll().where('id', '=', job.task_id).executeTakeFirst();
    return task ? { type: 'task', task: toApiTask(task) } : null;
  }
  const run = await db.selectFrom('sprint_runs').selectAll().where('id', '=', job.sprint_run_id!).executeTakeFirst();
  if (!run) return null;
  const tasks = await db
    .selectFrom('steps')
    .innerJoin('tasks', 'tasks.id', 'steps.task_id')
    .selectAll('tasks')
    .where('steps.sprint_run_id', '=', run.id)
    .orderBy('steps.position')
    .execute();
  return { type: 'sprint_run', sprint_run: toApiSprintRun(run), tasks: tasks.map(toApiTask) };
}
