/**
 * A Step is one task's place in a sprint run, executed in dependency order.
 *
 * - PENDING: waits for its dependencies (or for the run to resume).
 * - IN_PROGRESS: an agent works on it.
 * - COMPLETED: the agent reported success (terminal).
 * - FAILED: the agent reported failure (terminal); the run fails.
 * - SKIPPED: the run stopped before this step could finish (terminal).
 */
import { defineSpelling } from '../util/define-spelling.js';
import { defineMachine } from './define-machine.js';

export const STEP_STATUSES = ['PENDING', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'SKIPPED'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

/** How the API spells each status. */
export const stepStatus = defineSpelling({
  PENDING: 'pending',
  IN_PROGRESS: 'in_progress',
  COMPLETED: 'completed',
  FAILED: 'failed',
  SKIPPED: 'skipped',
} as const satisfies Record<StepStatus, string>);

export const stepMachine = defineMachine({
  entity: 'STEP',
  table: 'steps',
  statuses: STEP_STATUSES,
  initial: 'PENDING',
  noun: 'step',
  spell: stepStatus.toApi,
  transitions: [
    { from: 'PENDING', to: 'IN_PROGRESS', trigger: 'step_started', by: 'system', description: "the run starts the step's agent" },
    { from: 'IN_PROGRESS', to: 'COMPLETED', trigger: 'step_completed', by: 'system', description: "the step's agent reports success" },
    { from: 'IN_PROGRESS', to: 'FAILED', trigger: 'step_failed', by: 'system', description: "the step's agent reports failure" },
    {
      from: 'PENDING',
      to: 'SKIPPED',
      trigger: 'run_stopped',
      by: 'system',
      description: 'the run fails or is cancelled before the step starts',
    },
    {
      from: 'IN_PROGRESS',
      to: 'SKIPPED',
      trigger: 'run_stopped',
      by: 'system',
      description: 'the run is cancelled while the step runs; its agent is aborted',
    },
  ],
});
