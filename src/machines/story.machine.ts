/**
 * A Story sits under a PBI and is worked on inside a sprint.
 *
 * - OPEN: in the product backlog.
 * - IN_SPRINT: planned into a sprint (its tasks carry the sprint id), or a task of it started.
 * - DONE: every task is DONE (terminal); its PBI is then re-evaluated.
 * - FAILED: a task failed, or a user abandoned it (terminal).
 */
import { defineSpelling } from '../util/define-spelling.js';
import { defineMachine } from './define-machine.js';

export const STORY_STATUSES = ['OPEN', 'IN_SPRINT', 'DONE', 'FAILED'] as const;
export type StoryStatus = (typeof STORY_STATUSES)[number];

/** How the API spells each status. */
export const storyStatus = defineSpelling({
  OPEN: 'open',
  IN_SPRINT: 'in_sprint',
  DONE: 'done',
  FAILED: 'failed',
} as const satisfies Record<StoryStatus, string>);

export const storyMachine = defineMachine({
  entity: 'STORY',
  table: 'stories',
  statuses: STORY_STATUSES,
  initial: 'OPEN',
  noun: 'story',
  spell: storyStatus.toApi,
  transitions: [
    { from: 'OPEN', to: 'IN_SPRINT', trigger: 'added_to_sprint', by: 'user', description: 'a user adds the story to a sprint' },
    { from: 'OPEN', to: 'IN_SPRINT', trigger: 'task_started', by: 'system', description: 'one of its tasks starts' },
    { from: 'IN_SPRINT', to: 'OPEN', trigger: 'removed_from_sprint', by: 'user', description: 'a user removes the story from its sprint' },
    { from: 'IN_SPRINT', to: 'DONE', trigger: 'all_tasks_done', by: 'system', description: 'every task of the story reaches done' },
    { from: 'IN_SPRINT', to: 'FAILED', trigger: 'task_failed', by: 'system', description: 'one of its tasks fails' },
    { from: 'IN_SPRINT', to: 'FAILED', trigger: 'user_abandons', by: 'user', description: 'a user abandons the story' },
  ],
});
