/**
 * Making, changing and deleting schedules, for the API and the CLI alike: the input checked
 * (subject for the kind, payload as the kind's enqueue checks it, timing), the subject found
 * within the caller's owner (404 otherwise, as enqueue answers), the row committed, and only then
 * its scheduler installed or removed. When Redis cannot take that, the row stands and the next
 * sweep installs (or removes) the scheduler.
 */
import { visibleOwnership } from '../backlog/ownership.js';
import type { Db } from '../db/database.js';
import type { Schedule } from '../db/tables/schedule.table.js';
import { AppError, isAppError } from '../errors/app-error.js';
import type { JobKind } from '../job-kinds.js';
import type { Logger } from '../logger.js';
import type { ScheduleQueue } from '../queues/schedule-queue.js';
import { checkedSchedulePayload, ENTITY_OF_SUBJECT, type ScheduleSubjectColumn, subjectOf } from './schedule-subject.js';
import { checkedTiming } from './schedule-timing.js';
import { deleteVisibleSchedule, getVisibleSchedule, insertSchedule, updateSchedule } from './schedule.repository.js';

export interface ScheduleDeps {
  db: Db;
  queues: { readonly schedules: ScheduleQueue };
  logger: Logger;
}

/** Who makes the change: the token firings will act as (null: the fleet itself), and the owner it is limited to (null: any). */
export interface ScheduleCaller {
  actorTokenId: string | null;
  ownerId: string | null;
}

export interface NewScheduleInput extends Partial<Record<ScheduleSubjectColumn, string>> {
  kind: JobKind;
  payload?: Record<string, unknown> | undefined;
  cron?: string | undefined;
  every_ms?: number | undefined;
  /** Default UTC. */
  timezone?: string | undefined;
  /** Default true. */
  enabled?: boolean | undefined;
}

export interface ScheduleChanges {
  payload?: Record<string, unknown> | undefined;
  /** Replaces every_ms. */
  cron?: string | undefined;
  /** Replaces cron. */
  every_ms?: number | undefined;
  timezone?: string | undefined;
  enabled?: boolean | undefined;
}

const CHANGEABLE = ['payload', 'cron', 'every_ms', 'timezone', 'enabled'] as const;

/**
 * The input's subject, payload and timing, each checked: validation_failed listing every issue
 * of all three (with one check failing, its own message, e.g. the bad cron expression's).
 */
export function checkedNewSchedule(input: NewScheduleInput) {
  return allChecked({
    subject: () => subjectOf(input.kind, input),
    payload: () => checkedSchedulePayload(input.kind, input.payload ?? {}),
    timing: () => checkedTiming({ cron: input.cron ?? null, everyMs: input.every_ms ?? null, timezone: input.timezone ?? 'UTC' }),
  });
}

export async function createSchedule(deps: ScheduleDeps, input: NewScheduleInput, caller: ScheduleCaller): Promise<Schedule> {
  const { subject, payload, timing } = checkedNewSchedule(input);
  const row = await deps.db.transaction().execute(async (trx) => {
    const owner = await visibleOwnership(trx, ENTITY_OF_SUBJECT[subject.column], subject.id, caller.ownerId);
    return insertSchedule(trx, {
      owner_id: owner.ownerId,
      product_id: owner.productId,
      kind: input.kind,
      [subject.column]: subject.id,
      payload: JSON.stringify(payload),
      cron: timing.cron,
      every_ms: timing.everyMs,
      timezone: timing.timezone,
      enabled: input.enabled ?? true,
      created_by_token_id: caller.actorTokenId,
    });
  });
  await syncScheduler(deps, row);
  return row;
}

/** Applies the changes given (cron and every_ms replace each other); 404 for a schedule the caller does not see. */
export async function changeSchedule(deps: ScheduleDeps, id: string, changes: ScheduleChanges, caller: ScheduleCaller): Promise<Schedule> {
  const given = CHANGEABLE.filter((field) => changes[field] !== undefined);
  const row = await deps.db.transaction().execute(async (trx) => {
    const current = await getVisibleSchedule(trx, id, caller.ownerId, true);
    if (given.length === 0) {
      throw new AppError('validation_failed', `nothing to change: give any of ${CHANGEABLE.join(', ')}`, {
        issues: [{ path: '(body)', message: `give any of ${CHANGEABLE.join(', ')}` }],
      });
    }
    const switchesToEvery = changes.every_ms !== undefined;
    const switchesToCron = changes.cron !== undefined;
    const { timing, payload } = allChecked({
      timing: () =>
        checkedTiming({
          cron: changes.cron ?? (switchesToEvery ? null : current.cron),
          everyMs: changes.every_ms ?? (switchesToCron || current.every_ms === null ? null : Number(current.every_ms)),
          timezone: changes.timezone ?? current.timezone,
        }),
      payload: () => (changes.payload === undefined ? undefined : checkedSchedulePayload(current.kind, changes.payload)),
    });
    return updateSchedule(trx, current.id, {
      cron: timing.cron,
      every_ms: timing.everyMs,
      timezone: timing.timezone,
      ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
      ...(changes.enabled === undefined ? {} : { enabled: changes.enabled }),
    });
  });
  await syncScheduler(deps, row);
  return row;
}

export async function deleteSchedule(deps: ScheduleDeps, id: string, caller: ScheduleCaller): Promise<Schedule> {
  const row = await deleteVisibleSchedule(deps.db, id, caller.ownerId);
  await syncScheduler(deps, { ...row, enabled: false });
  return row;
}

/** Runs every check; validation failures are gathered into one, listing every issue. */
function allChecked<T extends Record<string, () => unknown>>(checks: T): { [K in keyof T]: ReturnType<T[K]> } {
  const results: Record<string, unknown> = {};
  const failures: AppError[] = [];
  for (const [name, check] of Object.entries(checks)) {
    try {
      results[name] = check();
    } catch (error) {
      if (!isAppError(error, 'validation_failed')) throw error;
      failures.push(error);
    }
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) {
    const issues = failures.flatMap((failure) => (failure.details.issues as { path: string; message: string }[] | undefined) ?? []);
    const details = Object.assign({}, ...failures.map((failure) => failure.details), { issues });
    throw new AppError('validation_failed', `invalid schedule: ${failures.map((failure) => failure.message).join('; ')}`, details);
  }
  return results as { [K in keyof T]: ReturnType<T[K]> };
}

/** Redis made to say what the committed row says: its scheduler installed when enabled, gone otherwise. */
export async function syncScheduler(deps: Pick<ScheduleDeps, 'queues' | 'logger'>, row: Schedule): Promise<void> {
  try {
    if (row.enabled) await deps.queues.schedules.install(row);
    else await deps.queues.schedules.remove(row.id);
  } catch (error) {
    deps.logger.warn(
      { schedule: row.id, err: (error as Error).message },
      'schedule saved, its scheduler not yet changed; the sweeper does it when Redis answers',
    );
  }
}
