/**
 * What a sprint run's end sets off:
 * - FAILED or CANCELLED: every job still working for the run is cancelled (their workers abort
 *   the agents at their next lease renewal, or at once on the cancel signal) and every step that
 *   had not finished is skipped;
 * - FAILED blocks its sprint (ACTIVE -> FAILED);
 * - any end (DONE too) writes the run's result.
 */
import { sql } from 'kysely';
import type { SprintRun } from '../db/tables/sprint-run.table.js';
import { claudeJobMachine, sprintMachine, stepMachine } from '../machines/index.js';
import { computeRunResult } from './run-result.js';
import { type AppliedTransition, type Cascade, inherited } from '../transitions/index.js';

const ENDS = ['DONE', 'FAILED', 'CANCELLED'];

export const sprintRunCascade: Cascade = async (trx, changes, door) => {
  for (const change of changes as readonly AppliedTransition<SprintRun>[]) {
    if (!ENDS.includes(change.to)) continue;
    const run = change.row;
    const stopped = change.to !== 'DONE';
    const why = `sprint run ${run.id} ${change.to === 'FAILED' ? 'failed' : change.to === 'CANCELLED' ? 'was cancelled' : 'is done'}`;

    if (stopped) {
      const live = await trx
        .selectFrom('claude_jobs')
        .select(['id', 'status'])
        .where('sprint_run_id', '=', run.id)
        .where('status', 'in', ['QUEUED', 'CLAIMED', 'RUNNING'])
        .execute();
      if (live.length) {
        await door.transitionMany(
          trx,
          claudeJobMachine,
          live.map((job) => ({
            id: job.id,
            from: job.status,
            to: 'CANCELLED',
            trigger: 'run_stopped',
            set: { finished_at: new Date().toISOString(), lease_expires_at: null, error: { code: 'run_stopped', message: why } },
            context: inherited(change, why),
          })),
        );
      }
      const unfinished = await trx
        .selectFrom('steps')
        .select(['id', 'status'])
        .where('sprint_run_id', '=', run.id)
        .where('status', 'in', ['PENDING', 'IN_PROGRESS'])
        .orderBy('position')
        .execute();
      if (unfinished.length) {
        await door.transitionMany(
          trx,
          stepMachine,
          unfinished.map((step) => ({
            id: step.id,
            from: step.status,
            to: 'SKIPPED',
            trigger: 'run_stopped',
            set: { completed_at: new Date().toISOString() },
            context: inherited(change, why),
          })),
        );
      }
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
          context: inherited(change, why),
        });
      }
    }

    const endedAt = run.finished_at ?? new Date();
    const result = await computeRunResult(trx, run.id, endedAt);
    await trx
      .updateTable('sprint_runs')
      .set({ result: JSON.stringify(result), finished_at: sql<Date>`coalesce(finished_at, now())` as never, updated_at: new Date() })
      .where('id', '=', run.id)
      .execute();
  }
};
