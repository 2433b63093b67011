/**
 * The BullMQ Worker that turns the schedulers' firing jobs into enqueues. Every sweeper process
 * runs one (not only the leader: a standby keeps schedules firing while the leader is busy or
 * gone); BullMQ gives each firing job to one of them, and the firing row's key makes a second
 * delivery of the same firing (a stalled job delivered again) enqueue nothing.
 *
 * A firing's time is when its job was due: the job's creation time plus the delay it was created
 * with (`job.timestamp + job.opts.delay`). BullMQ creates each iteration's job once, under an id
 * of its own, so every delivery of one firing carries the same two numbers.
 */
import { type Job, Worker } from 'bullmq';
import type { Logger } from '../logger.js';
import type { JobQueues } from '../queues/job-queues.js';
import { type RedisTarget, workerConnection } from '../queues/redis-connections.js';
import { type FiringDeps, type FiringResult, fireSchedule } from './fire-schedule.js';
import { SCHEDULES_QUEUE, type ScheduleFiringData } from '../queues/schedule-queue.js';

export interface ScheduleFiringsOptions extends Omit<FiringDeps, 'queues'> {
  queues: JobQueues;
  redis: RedisTarget;
  /** @defaultValue 4 */
  concurrency?: number;
}

export interface ScheduleFirings {
  close(): Promise<void>;
}

/** When the firing job was due: identical for every delivery of it. */
export function firedForOf(job: Pick<Job, 'timestamp' | 'opts'>): Date {
  return new Date(job.timestamp + (job.opts.delay ?? 0));
}

export function startScheduleFirings(options: ScheduleFiringsOptions): ScheduleFirings {
  const logger = options.logger.child({ role: 'schedules' });
  const deps = { ...options, logger };
  const connection = workerConnection(options.redis, logger, 'schedules');
  const worker = new Worker<ScheduleFiringData, FiringResult['outcome']>(
    SCHEDULES_QUEUE,
    async (job) => {
      const { scheduleId, revision } = job.data;
      const result = await fireSchedule(deps, { scheduleId, firedFor: firedForOf(job) });
      await settleScheduler(deps, scheduleId, revision, result);
      if (result.outcome === 'skipped') logger.info({ schedule: scheduleId, reason: result.reason }, 'schedule fired; no job made');
      return result.outcome;
    },
    { connection: connection.connection, prefix: options.queues.schedules.prefix, concurrency: options.concurrency ?? 4 },
  );
  worker.on('error', (error) => logger.warn({ err: error.message }, 'schedule worker error'));
  worker.on('failed', (job, error) =>
    logger.warn({ delivery: job?.id, err: error.message }, 'schedule firing failed; BullMQ will deliver it again'),
  );
  return {
    async close() {
      await worker.close();
      await connection.close();
    },
  };
}

/**
 * The scheduler put right from what the firing found: a schedule that is gone or disabled loses
 * its scheduler; one whose row moved on from the revision the scheduler carries gets the current
 * one (an install that lost a race with a later change). The sweeper would do both, later.
 */
async function settleScheduler(
  deps: { queues: JobQueues; logger: Logger },
  scheduleId: string,
  revision: number,
  result: FiringResult,
): Promise<void> {
  try {
    if (result.outcome === 'stale') await deps.queues.schedules.remove(scheduleId);
    else if (result.schedule.revision !== revision) await deps.queues.schedules.install(result.schedule);
  } catch (error) {
    deps.logger.warn({ schedule: scheduleId, err: (error as Error).message }, 'scheduler not put right; the sweeper will');
  }
}
