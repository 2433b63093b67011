/**
 * The sweeper's step for schedules: Redis made to hold what Postgres says. Every enabled schedule
 * whose scheduler is missing (Redis restarted, lost its data, a FLUSHALL; an install that failed
 * while Redis was away), carries another revision, or another timing, is installed again; every
 * scheduler without an enabled row (deleted or disabled while Redis was away) is removed.
 */
import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import type { InstalledScheduler, ScheduleQueue, SchedulerSpec } from '../queues/schedule-queue.js';
import { enabledSchedules } from './schedule.repository.js';

export interface ReinstallDeps {
  db: Db;
  queues: { readonly schedules: ScheduleQueue };
  logger: Logger;
}

export interface Reinstalled {
  installed: number;
  removed: number;
}

export async function reinstallSchedules(deps: ReinstallDeps): Promise<Reinstalled> {
  const done: Reinstalled = { installed: 0, removed: 0 };
  try {
    // Redis first, then the rows: a change committed meanwhile is read here, not undone.
    const installed = new Map((await deps.queues.schedules.installed()).map((scheduler) => [scheduler.id, scheduler]));
    const rows = await enabledSchedules(deps.db);
    for (const row of rows) {
      if (matches(installed.get(row.id), row)) continue;
      await deps.queues.schedules.install(row);
      done.installed += 1;
    }
    const enabled = new Set(rows.map((row) => row.id));
    for (const id of installed.keys()) {
      if (enabled.has(id)) continue;
      await deps.queues.schedules.remove(id);
      done.removed += 1;
    }
  } catch (error) {
    deps.logger.warn(
      { err: (error as Error).message, ...done },
      'schedules not all installed: Redis or Postgres did not answer; the next sweep tries again',
    );
  }
  if (done.installed || done.removed) deps.logger.info(done, 'schedulers installed again from their rows');
  return done;
}

function matches(scheduler: InstalledScheduler | undefined, row: SchedulerSpec): boolean {
  if (!scheduler || scheduler.revision !== row.revision) return false;
  if (row.cron !== null) return scheduler.cron === row.cron && scheduler.timezone === row.timezone;
  return scheduler.cron === null && scheduler.everyMs === Number(row.every_ms);
}
