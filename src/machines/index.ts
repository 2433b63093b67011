/** Every state machine of jobfleet, by entity type. */
import { claudeJobMachine } from './claude-job.machine.js';
import { ideaMachine } from './idea.machine.js';
import { pbiMachine } from './pbi.machine.js';
import { providerMachine } from './provider.machine.js';
import { sprintRunMachine } from './sprint-run.machine.js';
import { sprintMachine } from './sprint.machine.js';
import { stepMachine } from './step.machine.js';
import { storyMachine } from './story.machine.js';
import { taskMachine } from './task.machine.js';

export * from './define-machine.js';
export * from './claude-job.machine.js';
export * from './idea.machine.js';
export * from './pbi.machine.js';
export * from './provider.machine.js';
export * from './sprint-run.machine.js';
export * from './sprint.machine.js';
export * from './step.machine.js';
export * from './story.machine.js';
export * from './task.machine.js';

export const MACHINES = {
  PBI: pbiMachine,
  STORY: storyMachine,
  TASK: taskMachine,
  SPRINT: sprintMachine,
  SPRINT_RUN: sprintRunMachine,
  CLAUDE_JOB: claudeJobMachine,
  IDEA: ideaMachine,
  STEP: stepMachine,
  PROVIDER: providerMachine,
} as const;

export type EntityType = keyof typeof MACHINES;
export const ENTITY_TYPES = Object.keys(MACHINES) as EntityType[];
export type AnyMachine = (typeof MACHINES)[EntityType];
export type StatusOf<E extends EntityType> = (typeof MACHINES)[E]['statuses'][number];
