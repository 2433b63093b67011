/**
 * The clock of schedules: one BullMQ job scheduler per enabled schedule, on the `schedules`
 * queue under the fleet's prefix, keyed by the schedule's id. Each carries the revision of the
 * row it was installed from, so the sweeper can tell an older one and install it again; Postgres
 * stays the truth, and everything here can be lost and rebuilt from it.
 *
 * Like the kinds' queues on the producer connection, a call fails fast (service_unavailable)
 * while Redis is away: the row is committed already, and the next sweep installs what is missing.
 */
import { Queue } from 'bullmq';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../logger.js';
import { bullPrefixOf, type QueueLayout } from './queue-layout.js';
import type { RedisClient } from './redis-connections.js';
import { redisDeadline } from './redis-deadline.js';

export const SCHEDULES_QUEUE = 'schedules';
/** The name of every firing job. */
export const FIRING_JOB_NAME = 'schedule';

/** What a firing job carries: which schedule, as of which revision. */
export interface ScheduleFiringData {
  scheduleId: string;
  revision: number;
}

/** A schedule as its scheduler needs it. */
export interface SchedulerSpec {
  id: string;
  revision: number;
  cron: string | null;
  /** bigint in Postgres: a string from a row. */
  every_ms: string | number | null;
  timezone: string;
}

/** A scheduler found in Redis. */
export interface InstalledScheduler {
  id: string;
  revision: number | null;
  cron: string | null;
  everyMs: number | null;
  timezone: string | null;
}

export interface ScheduleQueue {
  readonly name: string;
  readonly prefix: string;
  /** Installs (or replaces) the schedule's scheduler. */
  install(schedule: SchedulerSpec): Promise<void>;
  remove(scheduleId: string): Promise<void>;
  /** Every scheduler installed on the queue. */
  installed(): Promise<InstalledScheduler[]>;
  close(): Promise<void>;
}

/** Firing jobs are kept briefly: each firing is recorded in Postgres (schedule_firings). */
const FIRING_JOB_OPTIONS = {
  removeOnComplete: { age: 3_600, count: 1_000 },
  removeOnFail: { age: 24 * 3_600, count: 5_000 },
  // A firing fails only when Postgres could not be reached: try it again, with its own fire time.
  attempts: 5,
  backoff: { type: 'exponential', delay: 1_000 },
};

export function createScheduleQueue({
  connection,
  layout,
  logger,
  timeoutMs = 3_000,
}: {
  connection: RedisClient;
  layout: QueueLayout;
  logger: Logger;
  timeoutMs?: number;
}): ScheduleQueue {
  const prefix = bullPrefixOf(layout, SCHEDULES_QUEUE);
  const queue = new Queue<ScheduleFiringData>(SCHEDULES_QUEUE, { connection, prefix });
  queue.on('error', (error) => logger.warn({ queue: SCHEDULES_QUEUE, err: error.message }, 'queue error'));

  /** Resolves once the connection is up (a process that just opened it waits for it), else fails fast. */
  const up = async () => {
    if (connection.status === 'ready') return;
    if (connection.status === 'wait' || connection.status === 'connecting' || connection.status === 'connect') {
      await withTimeout('a connection', new Promise<void>((resolve) => connection.once('ready', () => resolve())));
      return;
    }
    throw new AppError('service_unavailable', `Redis is not connected (${connection.status})`);
  };

  const withTimeout = redisDeadline(timeoutMs);

  return {
    name: SCHEDULES_QUEUE,
    prefix,

    async install(schedule) {
      await up();
      const timing = schedule.cron !== null ? { pattern: schedule.cron, tz: schedule.timezone } : { every: Number(schedule.every_ms) };
      await withTimeout(
        'an install',
        queue.upsertJobScheduler(schedule.id, timing, {
          name: FIRING_JOB_NAME,
          data: { scheduleId: schedule.id, revision: schedule.revision },
          opts: FIRING_JOB_OPTIONS,
        }),
      );
    },

    async remove(scheduleId) {
      await up();
      await withTimeout('a removal', queue.removeJobScheduler(scheduleId));
    },

    async installed() {
      await up();
      const schedulers = await withTimeout('a listing', queue.getJobSchedulers());
      return schedulers.map((scheduler) => {
        const data = scheduler.template?.data as Partial<ScheduleFiringData> | undefined;
        return {
          id: scheduler.key,
          revision: typeof data?.revision === 'number' ? data.revision : null,
          cron: scheduler.pattern ?? null,
          everyMs: scheduler.every ?? null,
          timezone: scheduler.tz ?? null,
        };
      });
    },

    close: () => queue.close(),
  };
}
