/**
 * A Task is the smallest unit of work; agents implement tasks.
 *
 * - TO_DO: not started (API: `todo`).
 * - IN_PROGRESS: an agent or a user is working on it.
 * - REVIEW: implemented, waiting for verification.
 * - DONE: verified (terminal); may complete its story and its sprint run.
 * - FAILED: could not be done (terminal); fails its story and its sprint run.
 */
import { defineSpelling } from '../util/define-spelling.js';
import { defineMachine } from './define-machine.js';

export const TASK_STATUSES = ['TO_DO', 'IN_PROGRESS', 'REVIEW', 'DONE', 'FAILED'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** How the API spells each status. */
export const taskStatus = defineSpelling({
  TO_DO: 'todo',
  IN_PROGRESS: 'in_progress',
  REVIEW: 'review',
  DONE: 'done',
  FAILED: 'failed',
} as const satisfies Record<TaskStatus, string>);

export const taskMachine = defineMachine({
  entity: 'TASK',
  table: 'tasks',
  statuses: TASK_STATUSES,
  initial: 'TO_DO',
  noun: 'task',
  spell: taskStatus.toApi,
  transitions: [
    {
      from: 'TO_DO',
      to: 'IN_PROGRESS',
      trigger: 'agent_started',
      by: 'system',
      description: 'a worker starts an implementation job for the task',
    },
    { from: 'TO_DO', to: 'IN_PROGRESS', trigger: 'user_starts', by: 'user', description: 'a user starts the task' },
    { from: 'IN_PROGRESS', to: 'REVIEW', trigger: 'implementation_done', by: 'system', description: 'the implementation job finishes' },
    { from: 'IN_PROGRESS', to: 'REVIEW', trigger: 'user_submits', by: 'user', description: 'a user submits the task for review' },
    { from: 'REVIEW', to: 'DONE', trigger: 'verify_passed', by: 'system', description: 'verification passes' },
    { from: 'REVIEW', to: 'DONE', trigger: 'user_accepts', by: 'user', description: 'a user accepts the work' },
    {
      from: 'REVIEW',
      to: 'IN_PROGRESS',
      trigger: 'verify_failed',
      by: 'system',
      description: 'verification fails and the task is retried',
    },
    { from: 'REVIEW', to: 'IN_PROGRESS', trigger: 'user_rejects', by: 'user', description: 'a user sends the work back' },
    { from: 'IN_PROGRESS', to: 'FAILED', trigger: 'agent_failed', by: 'system', description: 'the implementation job fails' },
    { from: 'IN_PROGRESS', to: 'FAILED', trigger: 'user_marks_failed', by: 'user', description: 'a user marks the task failed' },
    { from: 'REVIEW', to: 'FAILED', trigger: 'gave_up', by: 'system', description: 'verification gives up after retries' },
    { from: 'REVIEW', to: 'FAILED', trigger: 'user_marks_failed', by: 'user', description: 'a user marks the task failed' },
  ],
});
