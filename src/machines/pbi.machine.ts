/**
 * A Product Backlog Item holds stories.
 *
 * - READY: can be picked up; becomes DONE by itself once every story is DONE.
 * - BLOCKED: waits on something outside jobfleet; never promoted to DONE while blocked.
 * - DONE: every story is done (terminal).
 * - FAILED: the user gave up on it (terminal).
 */
import { defineSpelling } from '../util/define-spelling.js';
import { defineMachine } from './define-machine.js';

export const PBI_STATUSES = ['READY', 'BLOCKED', 'DONE', 'FAILED'] as const;
export type PbiStatus = (typeof PBI_STATUSES)[number];

/** How the API spells each status. */
export const pbiStatus = defineSpelling({
  READY: 'ready',
  BLOCKED: 'blocked',
  DONE: 'done',
  FAILED: 'failed',
} as const satisfies Record<PbiStatus, string>);

export const pbiMachine = defineMachine({
  entity: 'PBI',
  table: 'pbis',
  statuses: PBI_STATUSES,
  initial: 'READY',
  noun: 'PBI',
  spell: pbiStatus.toApi,
  transitions: [
    { from: 'READY', to: 'BLOCKED', trigger: 'user_blocks', by: 'user', description: 'a user marks the PBI blocked' },
    { from: 'BLOCKED', to: 'READY', trigger: 'user_unblocks', by: 'user', description: 'a user unblocks the PBI' },
    { from: 'READY', to: 'DONE', trigger: 'all_stories_done', by: 'system', description: 'every story of the PBI reaches done' },
    { from: 'READY', to: 'FAILED', trigger: 'user_gives_up', by: 'user', description: 'a user gives up on the PBI' },
    { from: 'BLOCKED', to: 'FAILED', trigger: 'user_gives_up', by: 'user', description: 'a user gives up on the PBI' },
  ],
});
