/**
 * A SprintRun is one attempt by the fleet to implement a sprint's tasks.
 *
 * - QUEUED: created, its SPRINT_IMPLEMENTATION job waits for a worker.
 * - RUNNING: steps are being executed.
 * - PAUSED: no new step starts; running ones finish (and may still fail it or complete it).
 * - DONE: every task of the sprint is done (terminal).
 * - FAILED: a step failed or its worker was lost (terminal); the sprint is blocked.
 * - CANCELLED: a user cancelled it (terminal); its agents are stopped.
 */
import { defineSpelling } from '../util/define-spelling.js';
import { defineMachine } from './define-machine.js';

export const SPRINT_RUN_STATUSES = ['QUEUED', 'RUNNING', 'PAUSED', 'DONE', 'FAILED', 'CANCELLED'] as const;
export type SprintRunStatus = (typeof SPRINT_RUN_STATUSES)[number];

/** How the API spells each status. */
export const sprintRunStatus = defineSpelling({
  QUEUED: 'queued',
  RUNNING: 'running',
  PAUSED: 'paused',
  DONE: 'done',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
} as const satisfies Record<SprintRunStatus, string>);

export const SPRINT_RUN_MODES = ['PER_TASK', 'SPRINT_BATCH'] as const;
export type SprintRunMode = (typeof SPRINT_RUN_MODES)[number];

export const sprintRunMachine = defineMachine({
  entity: 'SPRINT_RUN',
  table: 'sprint_runs',
  statuses: SPRINT_RUN_STATUSES,
  initial: 'QUEUED',
  noun: 'sprint run',
  spell: sprintRunStatus.toApi,
  transitions: [
    { from: 'QUEUED', to: 'RUNNING', trigger: 'worker_started', by: 'system', description: 'a worker starts the run' },
    { from: 'RUNNING', to: 'PAUSED', trigger: 'pause_requested', by: 'user', description: 'a user pauses the run' },
    { from: 'PAUSED', to: 'RUNNING', trigger: 'resumed', by: 'user', description: 'a user resumes the run' },
    { from: 'RUNNING', to: 'DONE', trigger: 'all_tasks_done', by: 'system', description: 'every task of the run reaches done' },
    {
      from: 'PAUSED',
      to: 'DONE',
      trigger: 'all_tasks_done',
      by: 'system',
      description: 'the last running step completes while the run is paused',
    },
    { from: 'RUNNING', to: 'FAILED', trigger: 'step_failed', by: 'system', description: 'a step of the run fails' },
    {
      from: 'PAUSED',
      to: 'FAILED',
      trigger: 'step_failed',
      by: 'system',
      description: 'a step still running when the run was paused fails',
    },
    { from: 'RUNNING', to: 'FAILED', trigger: 'job_failed', by: 'system', description: "the run's job fails or its worker is lost" },
    { from: 'PAUSED', to: 'FAILED', trigger: 'job_failed', by: 'system', description: "the run's job fails or its worker is lost" },
    { from: 'QUEUED', to: 'FAILED', trigger: 'job_failed', by: 'system', description: "the run's job fails before it starts" },
    { from: 'QUEUED', to: 'CANCELLED', trigger: 'user_cancels', by: 'user', description: 'a user cancels the run' },
    { from: 'RUNNING', to: 'CANCELLED', trigger: 'user_cancels', by: 'user', description: 'a user cancels the run' },
    { from: 'PAUSED', to: 'CANCELLED', trigger: 'user_cancels', by: 'user', description: 'a user cancels the run' },
  ],
});
