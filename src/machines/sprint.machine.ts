/**
 * A Sprint is the time-box that stories are planned into; it says nothing about agents running.
 *
 * - ACTIVE: open for work and for sprint runs.
 * - COMPLETED: closed by a user (terminal).
 * - FAILED: abandoned by a user, or blocked because a sprint run failed a step (terminal).
 *   "Blocked" in the sprint-runner's words is this status.
 */
import { defineSpelling } from '../util/define-spelling.js';
import { defineMachine } from './define-machine.js';

export const SPRINT_STATUSES = ['ACTIVE', 'COMPLETED', 'FAILED'] as const;
export type SprintStatus = (typeof SPRINT_STATUSES)[number];

/** How the API spells each status. */
export const sprintStatus = defineSpelling({
  ACTIVE: 'active',
  COMPLETED: 'completed',
  FAILED: 'failed',
} as const satisfies Record<SprintStatus, string>);

export const sprintMachine = defineMachine({
  entity: 'SPRINT',
  table: 'sprints',
  statuses: SPRINT_STATUSES,
  initial: 'ACTIVE',
  noun: 'sprint',
  spell: sprintStatus.toApi,
  transitions: [
    { from: 'ACTIVE', to: 'COMPLETED', trigger: 'user_closes', by: 'user', description: 'a user closes the sprint' },
    { from: 'ACTIVE', to: 'FAILED', trigger: 'user_abandons', by: 'user', description: 'a user abandons the sprint' },
    { from: 'ACTIVE', to: 'FAILED', trigger: 'run_failed', by: 'system', description: 'a sprint run fails a step' },
  ],
});
