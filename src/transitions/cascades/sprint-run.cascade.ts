/**
 * What a sprint run's end sets off:
 * - FAILED blocks its sprint (ACTIVE -> FAILED);
 * - FAILED or CANCELLED skips every step that had not finished.
 */
import type { SprintRun } from '../../db/tables/sprint-run.table.js';
import { sprintMachine, stepMachine } from '../../machines/index.js';
import type { AppliedTransition } from '../transition-types.js';
import { type Cascade, inherited } from './cascade.js';

export const sprintRunCascade: Cascade = async (trx, changes, door) => {
  for (const change of changes as readonly AppliedTransition<SprintRun>[]) {
    if (change.to !== 'FAILED' && change.to !== 'CANCELLED') continue;
    const run = change.row;

    const unfinished = await trx
      .selectFrom('steps')
      .select(['id', 'status'])
      .where('sprint_run_id', '=', run.id)
      .where('status', 'in', ['PENDING', 'IN_PROGRESS'])
      .orderBy('position')
      .execute();
    if (unfinished.length > 0) {
      await door.transitionMany(
        trx,
        stepMachine,
        unfinished.map((step) => ({
          id: step.id,
          from: step.status,
          to: 'SKIPPED',
          trigger: 'run_stopped',
          set: { completed_at: new Date().toISOString() },
          context: inherited(change, `sprint run ${run.id} ${change.to === 'FAILED' ? 'failed' : 'was cancelled'}`),
        })),
      );
    }

    if (change.to === 'FAILED') {
      const sprint = await trx
        .selectFrom('sprints')
        .select(['id', 'status'])
        .where('id', '=', run.sprint_id)
        .forUpdate()
        .executeTakeFirstOrThrow();
      if (sprint.status === 'ACTIVE') {
        await door.transition(trx, sprintMachine, {
          id: sprint.id,
          from: 'ACTIVE',
          to: 'FAILED',
          trigger: 'run_failed',
          context: inherited(change, `sprint run ${run.id} failed`),
        });
      }
    }
  }
};
