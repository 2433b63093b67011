/**
 * TASK_IMPLEMENTATION: an agent implements one task. The ClaudeJob cascade moves the task to
 * IN_PROGRESS when the job starts (and to FAILED when it fails); a finished job moves it to
 * REVIEW, where verification (a user, or a sprint run) takes it on. Inside a sprint run the
 * task transitions carry the run's id.
 */
import type { JsonValue } from '../db/column-types.js';
import type { Executor as DbExecutor } from '../db/database.js';
import { AppError } from '../errors/app-error.js';
import type { Prompt } from '../executors/executor.js';
import { taskMachine } from '../machines/index.js';
import { taskStatus } from '../spelling/api-spelling.js';
import { transition } from '../transitions/index.js';
import { ids, type KindHandler, resultOf } from './kind-handler.js';

const SYSTEM = [
  'You are a software engineer implementing one task of a sprint in its repository. Follow the',
  'implementation plan, keep the change focused, run the tests that cover it, and finish with a',
  'short report: what you changed, how you verified it, and anything you deferred. When you can,',
  'answer with JSON: {"summary": string, "verified": boolean, "deferred": string[], "success": boolean}.',
].join(' ');

export async function loadTaskBriefs(db: DbExecutor, taskIds: readonly string[]) {
  if (taskIds.length === 0) return new Map<string, TaskBrief>();
  const rows = await db
    .selectFrom('tasks')
    .innerJoin('stories', 'stories.id', 'tasks.story_id')
    .innerJoin('pbis', 'pbis.id', 'stories.pbi_id')
    .select([
      'tasks.id',
      'tasks.title',
      'tasks.description',
      'tasks.implementation_plan',
      'stories.title as story_title',
      'pbis.title as pbi_title',
    ])
    .where('tasks.id', 'in', taskIds)
    .execute();
  return new Map(rows.map((row) => [row.id, row]));
}

export type TaskBrief = {
  id: string;
  title: string;
  description: string;
  implementation_plan: string | null;
  story_title: string;
  pbi_title: string;
};

export function taskPrompt(task: TaskBrief, instructions?: string): Prompt {
  const parts = [
    `Task: ${task.title}`,
    `Part of story "${task.story_title}" of backlog item "${task.pbi_title}".`,
    task.description,
    `Implementation plan:\n${task.implementation_plan ?? '(none given: work from the title and description)'}`,
  ];
  if (instructions) parts.push(`Further instructions:\n${instructions}`);
  return { system: SYSTEM, user: parts.filter(Boolean).join('\n\n') };
}

/** An agent may report failure in its structured output even when it exits cleanly. */
export function reportedFailure(data: JsonValue): string | null {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return null;
  if (data.success === false || data.is_error === true) {
    const said = data.error ?? data.summary ?? data.result;
    return typeof said === 'string' ? said : 'the agent reported failure';
  }
  return null;
}

export const taskImplementationKind: KindHandler<'TASK_IMPLEMENTATION'> = {
  kind: 'TASK_IMPLEMENTATION',

  async onEnqueue(trx, jobs) {
    for (const job of jobs) {
      const task = await trx.selectFrom('tasks').select(['id', 'status']).where('id', '=', job.task_id!).forShare().executeTakeFirst();
      if (!task) throw new AppError('not_found', `task ${job.task_id} does not exist`, { task_id: job.task_id });
      if (task.status !== 'TO_DO' && task.status !== 'IN_PROGRESS') {
        throw new AppError('status_conflict', `task ${task.id} is ${taskStatus.toApi(task.status)}; implementation needs it todo or in_progress`, {
          task_id: task.id,
          current: taskStatus.toApi(task.status),
          allowed: ['todo', 'in_progress'],
        });
      }
    }
  },

  async buildPrompts(db, jobs) {
    const tasks = await loadTaskBriefs(db, ids(jobs, 'task_id'));
    return new Map(jobs.map((job) => [job.id, taskPrompt(tasks.get(job.task_id!)!, (job.payload as { instructions?: string }).instructions)]));
  },

  judge(_job, output) {
    const failure = reportedFailure(output.data);
    if (failure) return { status: 'FAILED', error: { code: 'agent_failed', message: failure }, result: resultOf(output) };
    return { status: 'DONE', result: resultOf(output) };
  },

  async applyDone(trx, finished, context) {
    for (const { job } of finished) {
      const task = await trx.selectFrom('tasks').select(['id', 'status']).where('id', '=', job.task_id!).forUpdate().executeTakeFirstOrThrow();
      if (task.status !== 'IN_PROGRESS') continue;
      await transition(trx, taskMachine, {
        id: task.id,
        from: 'IN_PROGRESS',
        to: 'REVIEW',
        trigger: 'implementation_done',
        context: { actorTokenId: context.actorTokenId, reason: `TASK_IMPLEMENTATION job ${job.id} finished`, sprintRunId: job.sprint_run_id, artifacts: { job_id: job.id } },
      });
    }
  },
};
