/**
 * What a story's change sets off:
 * - into or out of a sprint: its tasks carry the story's sprint id (denormalised);
 * - DONE: its PBI becomes DONE once every story is DONE, unless the PBI is BLOCKED.
 */
import type { Story } from '../../db/tables/story.table.js';
import { pbiMachine } from '../../machines/index.js';
import type { AppliedTransition } from '../transition-types.js';
import { type Cascade, inherited } from './cascade.js';

export const storyCascade: Cascade = async (trx, changes, door) => {
  for (const change of changes as readonly AppliedTransition<Story>[]) {
    const story = change.row;
    const trigger = change.hops.at(-1)!.trigger;
    if (trigger === 'added_to_sprint' || trigger === 'removed_from_sprint') {
      await trx
        .updateTable('tasks')
        .set({ sprint_id: trigger === 'removed_from_sprint' ? null : story.sprint_id, updated_at: new Date() })
        .where('story_id', '=', story.id)
        .execute();
    }
    if (change.to !== 'DONE') continue;

    const pbi = await trx.selectFrom('pbis').select(['id', 'status']).where('id', '=', story.pbi_id).forUpdate().executeTakeFirstOrThrow();
    // A BLOCKED PBI is never promoted: it waits for a user to unblock it, and stays complete-able.
    if (pbi.status !== 'READY') continue;
    const open = await trx
      .selectFrom('stories')
      .select(({ fn }) => fn.countAll<string>().as('count'))
      .where('pbi_id', '=', pbi.id)
      .where('status', '<>', 'DONE')
      .executeTakeFirstOrThrow();
    if (Number(open.count) === 0) {
      await door.transition(trx, pbiMachine, {
        id: pbi.id,
        from: 'READY',
        to: 'DONE',
        trigger: 'all_stories_done',
        context: inherited(change, `every story of PBI ${pbi.id} is done`),
      });
    }
  }
};
