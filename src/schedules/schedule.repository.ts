/**
 * Rows of `schedules`, owner-scoped like every row an owner has: a caller sees their owner's
 * schedules (null: every owner's), and any other id is simply one that does not exist (404).
 * Every change of what a schedule is raises its revision, which its installed scheduler carries.
 */
import type { Insertable, Updateable } from 'kysely';
import { sql } from 'kysely';
import type { Executor } from '../db/database.js';
import { fetchPage, type Page, type PageOf } from '../db/pagination.js';
import type { Schedule, ScheduleTable } from '../db/tables/schedule.table.js';
import { AppError } from '../errors/app-error.js';
import { isUuidShape } from '../util/uuid.js';

const notFound = (id: string) => new AppError('not_found', `schedule ${id} does not exist`, { id });

export function isScheduleId(id: string): boolean {
  return isUuidShape(id);
}

export async function insertSchedule(db: Executor, values: Insertable<ScheduleTable>): Promise<Schedule> {
  return db.insertInto('schedules').values(values).returningAll().executeTakeFirstOrThrow();
}

/** The schedule, locked for the caller's transaction when `lock`, or not_found. */
export async function getVisibleSchedule(db: Executor, id: string, ownerId: string | null, lock = false): Promise<Schedule> {
  if (!isScheduleId(id)) throw notFound(id);
  let query = db.selectFrom('schedules').selectAll().where('id', '=', id);
  if (ownerId !== null) query = query.where('owner_id', '=', ownerId);
  if (lock) query = query.forUpdate();
  const row = await query.executeTakeFirst();
  if (!row) throw notFound(id);
  return row;
}

/** A page of the caller's schedules, newest first. */
export async function listSchedules(db: Executor, ownerId: string | null, page: Page): Promise<PageOf<Schedule>> {
  let query = db.selectFrom('schedules').selectAll('schedules');
  if (ownerId !== null) query = query.where('schedules.owner_id', '=', ownerId);
  return fetchPage(query, 'schedules', page);
}

/** Writes the changes and raises the revision. */
export async function updateSchedule(db: Executor, id: string, changes: Updateable<ScheduleTable>): Promise<Schedule> {
  return db
    .updateTable('schedules')
    .set({ ...changes, revision: sql<number>`revision + 1`, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Deletes a schedule the caller sees (its firings go with it), or not_found. */
export async function deleteVisibleSchedule(db: Executor, id: string, ownerId: string | null): Promise<Schedule> {
  if (!isScheduleId(id)) throw notFound(id);
  let query = db.deleteFrom('schedules').where('id', '=', id);
  if (ownerId !== null) query = query.where('owner_id', '=', ownerId);
  const row = await query.returningAll().executeTakeFirst();
  if (!row) throw notFound(id);
  return row;
}

/** What the sweeper installs: every enabled schedule's timing and revision. */
export async function enabledSchedules(db: Executor) {
  return db.selectFrom('schedules').select(['id', 'revision', 'cron', 'every_ms', 'timezone']).where('enabled', '=', true).execute();
}
