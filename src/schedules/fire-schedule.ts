/**
 * One firing of a schedule: an enqueue through the ordinary path, as the schedule's owner and
 * the token that made it, recorded once.
 *
 * In one transaction: the schedule row is locked (a schedule that is gone or disabled fires
 * nothing), the firing row (schedule_id, fired_for) is inserted ON CONFLICT DO NOTHING (a firing
 * delivered twice finds it and enqueues nothing), then the enqueue runs inside a savepoint: jobs
 * inserted with their subject transitions and supersede rules (insertJobs), or a sprint's run
 * started (startSprintRun), with the owner's budget checked. A refusal the API would answer with
 * a 4xx (budget_exhausted, a subject in the wrong status, a run already active...) rolls back to
 * the savepoint and is recorded as a skip with its reason; anything else (Postgres away) fails
 * the whole firing, nothing recorded, for BullMQ to deliver again. Only after the commit are the
 * new jobs added to their queues, as every enqueue does.
 */
import { sql } from 'kysely';
import { type BudgetDay, budgetDay, refuseSpentOwners } from '../budgets/owner-budgets.js';
import type { Db, Trx } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import type { Schedule } from '../db/tables/schedule.table.js';
import { AppError, isAppError } from '../errors/app-error.js';
import { addToQueues, type EnqueueDeps, type InsertedJobs, insertJobs, queueInserted } from '../jobs/enqueue-jobs.js';
import { startSprintRun } from '../sprints/start-sprint-run.js';
import { withRootSpan } from '../telemetry/tracing.js';
import { type Clock, systemClock } from '../util/clock.js';
import { runModeOf } from './schedule-subject.js';
import { isScheduleId } from './schedule.repository.js';

export interface FiringDeps extends EnqueueDeps {
  /** OWNER_DAILY_BUDGET_USD: owners without a budget of their own have this one (null: none). */
  defaultDailyUsd: number | null;
  /** The time owners' budgets are judged by; default the system's. */
  clock?: Clock | undefined;
}

export interface Firing {
  scheduleId: string;
  /** When the firing was due: the same for every delivery of one firing. */
  firedFor: Date;
}

export type FiringResult =
  | { outcome: 'enqueued'; jobId: string; schedule: Schedule }
  | { outcome: 'skipped'; reason: string; schedule: Schedule }
  /** This firing was recorded already (a second delivery): nothing done. */
  | { outcome: 'duplicate'; schedule: Schedule }
  /** No such schedule, or it is disabled: its scheduler should go. */
  | { outcome: 'stale' };

/** A job made, and what must follow the commit to put it on its queue. */
interface Made {
  job: ClaudeJob;
  afterCommit(deps: EnqueueDeps): Promise<void>;
}

/** Refusals recorded as a skip: every 4xx an enqueue can answer. Postgres or Redis away is retried instead. */
const RETRIED: readonly string[] = ['service_unavailable', 'internal'];

export async function fireSchedule(deps: FiringDeps, firing: Firing): Promise<FiringResult> {
  if (!isScheduleId(firing.scheduleId)) return { outcome: 'stale' };
  const day = budgetDay((deps.clock ?? systemClock)(), deps.defaultDailyUsd);
  const { result, made } = await deps.db.transaction().execute(async (trx) => {
    const schedule = await trx.selectFrom('schedules').selectAll().where('id', '=', firing.scheduleId).forUpdate().executeTakeFirst();
    if (!schedule?.enabled) return { result: { outcome: 'stale' } as const, made: null };
    const claimed = await trx
      .insertInto('schedule_firings')
      .values({ schedule_id: schedule.id, fired_for: firing.firedFor, outcome: 'skipped' })
      .onConflict((oc) => oc.columns(['schedule_id', 'fired_for']).doNothing())
      .returning('schedule_id')
      .executeTakeFirst();
    if (!claimed) return { result: { outcome: 'duplicate', schedule } as const, made: null };

    let made: Made | null = null;
    let reason = await tokenRefusal(trx, schedule);
    if (reason === null) {
      await sql`SAVEPOINT schedule_firing`.execute(trx);
      try {
        // No request asked for this job: with tracing on, it starts a trace of its own.
        const attributes = { 'jobfleet.schedule.id': schedule.id, 'jobfleet.owner.id': schedule.owner_id };
        made = await withRootSpan('jobfleet.schedule.fire', attributes, () => enqueueFor(trx, schedule, day));
        await sql`RELEASE SAVEPOINT schedule_firing`.execute(trx);
      } catch (error) {
        if (!isAppError(error) || RETRIED.includes(error.code)) throw error;
        await sql`ROLLBACK TO SAVEPOINT schedule_firing`.execute(trx);
        reason = `${error.code}: ${error.message}`;
      }
    }
    const outcome = made ? 'enqueued' : 'skipped';
    const jobId = made?.job.id ?? null;
    await trx
      .updateTable('schedule_firings')
      .set({ outcome, job_id: jobId, reason })
      .where('schedule_id', '=', schedule.id)
      .where('fired_for', '=', firing.firedFor)
      .execute();
    const updated = await recordOnSchedule(trx, schedule.id, firing.firedFor, { outcome, jobId, reason });
    const result: FiringResult = made
      ? { outcome: 'enqueued', jobId: made.job.id, schedule: updated }
      : { outcome: 'skipped', reason: reason!, schedule: updated };
    return { result, made };
  });
  if (made) await made.afterCommit(deps);
  return result;
}

/** A schedule made with a token fires as that token while it lives; a revoked one makes nothing. */
async function tokenRefusal(trx: Trx, schedule: Schedule): Promise<string | null> {
  if (schedule.created_by_token_id === null) return null;
  const token = await trx.selectFrom('api_tokens').select(['revoked_at']).where('id', '=', schedule.created_by_token_id).executeTakeFirst();
  if (token && token.revoked_at === null) return null;
  return `token_revoked: token ${schedule.created_by_token_id}, which made this schedule, is ${token ? 'revoked' : 'gone'}; make the schedule again with a live token`;
}

/** The ordinary enqueue of the schedule's kind, as its owner, in the caller's transaction. */
async function enqueueFor(trx: Trx, schedule: Schedule, day: BudgetDay): Promise<Made> {
  const context = { actorTokenId: schedule.created_by_token_id, ownerId: schedule.owner_id, budgetDay: day };
  if (schedule.sprint_id !== null) {
    // A run is an enqueue: a spent owner is refused before anything starts, as the API does.
    await refuseSpentOwners(trx, [schedule.product_id], day);
    const started = await startSprintRun(trx, schedule.sprint_id, runModeOf(schedule.payload), context.actorTokenId);
    return { job: started.job, afterCommit: (deps) => addToQueues(deps, [started.job]) };
  }
  const subjectId = schedule.idea_id ?? schedule.task_id;
  if (subjectId === null) throw new AppError('validation_failed', `schedule ${schedule.id} names no subject`);
  const inserted: InsertedJobs = await insertJobs(
    trx,
    [{ kind: schedule.kind, subjectId, payload: schedule.payload as Record<string, unknown> }],
    context,
  );
  return { job: inserted.created[0]!, afterCommit: (deps) => queueInserted(deps, inserted) };
}

/**
 * The schedule's last_* columns follow its latest firing (a late redelivery of an older one does
 * not move them back); firing_count counts every firing recorded.
 */
async function recordOnSchedule(
  trx: Db | Trx,
  scheduleId: string,
  firedFor: Date,
  last: { outcome: 'enqueued' | 'skipped'; jobId: string | null; reason: string | null },
): Promise<Schedule> {
  const latest = sql<boolean>`(last_fired_at IS NULL OR last_fired_at <= ${firedFor})`;
  return trx
    .updateTable('schedules')
    .set({
      firing_count: sql<number>`firing_count + 1`,
      last_fired_at: sql<Date>`CASE WHEN ${latest} THEN ${firedFor}::timestamptz ELSE last_fired_at END`,
      last_job_id: sql<string | null>`CASE WHEN ${latest} THEN ${last.jobId}::uuid ELSE last_job_id END`,
      last_outcome: sql<string | null>`CASE WHEN ${latest} THEN ${last.outcome}::text ELSE last_outcome END`,
      last_reason: sql<string | null>`CASE WHEN ${latest} THEN ${last.reason}::text ELSE last_reason END`,
    })
    .where('id', '=', scheduleId)
    .returningAll()
    .executeTakeFirstOrThrow();
}
