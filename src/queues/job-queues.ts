/**
 * The producer side of the kinds' BullMQ queues. Redis carries only job ids: the payload and
 * every status live in Postgres. BullMQ's job id is the row id (suffixed with the requeue count
 * after a stale claim was requeued, because BullMQ ignores an add whose id it still holds).
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../logger.js';
import { priorityOf } from './job-priority.js';
import { createScheduleQueue, type ScheduleQueue } from './schedule-queue.js';
import { groupBy } from '../util/group-by.js';
import { JOB_KINDS, type JobKind, KINDS } from './kinds.js';
import { redisDeadline } from './redis-deadline.js';

/** What Redis carries for a job. */
export interface QueuedJobData {
  id: string;
  /**
   * Set while the delivery waits delayed at its owner's cap (src/fairness/parked-deliveries.ts):
   * only such a delivery may be woken early, not one delayed for another reason.
   */
  parkedAtCap?: true;
}

export interface QueueableJob {
  id: string;
  kind: JobKind;
  requeue_count: number;
}

/** A job to add: every add carries its turn, since an add without a priority would go before all. */
export interface AddableJob extends QueueableJob {
  /** The job's turn in its kind: its priority (src/fairness/turns.ts). */
  turn: number;
}

export function bullJobId(job: Pick<QueueableJob, 'id' | 'requeue_count'>): string {
  return job.requeue_count === 0 ? job.id : `${job.id}-r${job.requeue_count}`;
}

/** Finished BullMQ jobs are kept briefly and bounded: the history lives in Postgres. */
export const KEEP_COMPLETED = { age: 3_600, count: 1_000 } as const;
export const KEEP_FAILED = { age: 24 * 3_600, count: 5_000 } as const;

export interface JobQueues {
  readonly prefix: string;
  /** The producer connection the queues share (for jobfleet's own keys beside BullMQ's). */
  readonly connection: Redis;
  queue(kind: JobKind): Queue<QueuedJobData>;
  all(): Queue<QueuedJobData>[];
  /** Adds the jobs to their queues; rejects at once (service_unavailable) when Redis is away. */
  add(jobs: readonly AddableJob[]): Promise<void>;
  /** Removes waiting entries; an entry a worker holds stays (its delivery will be dropped). */
  remove(jobs: readonly QueueableJob[]): Promise<void>;
  /** The jobs without a live entry in their queue: none at all, or only a finished one. */
  missing<T extends QueueableJob>(jobs: readonly T[]): Promise<T[]>;
  /** The schedules' job schedulers (src/schedules), on the same connection and prefix; made on first use. */
  readonly schedules: ScheduleQueue;
  close(): Promise<void>;
}

export interface JobQueuesOptions {
  connection: Redis;
  prefix: string;
  logger: Logger;
  /** How long an add may wait on Redis before the caller gives up on it. */
  timeoutMs?: number;
}

export function createJobQueues({ connection, prefix, logger, timeoutMs = 3_000 }: JobQueuesOptions): JobQueues {
  const queues = new Map<JobKind, Queue<QueuedJobData>>(
    JOB_KINDS.map((kind) => {
      const queue = new Queue<QueuedJobData>(KINDS[kind].queue, {
        connection,
        prefix,
        defaultJobOptions: {
          removeOnComplete: KEEP_COMPLETED,
          removeOnFail: KEEP_FAILED,
          // Only a claim that could not reach Postgres fails a delivery; try it again later.
          attempts: 5,
          backoff: { type: 'exponential', delay: 1_000 },
        },
      });
      queue.on('error', (error) => logger.warn({ queue: queue.name, err: error.message }, 'queue error'));
      return [kind, queue];
    }),
  );

  const ensureUp = () => {
    if (connection.status !== 'ready') {
      throw new AppError('service_unavailable', `Redis is not connected (${connection.status})`);
    }
  };

  const withTimeout = redisDeadline(timeoutMs);

  const queueOf = (kind: JobKind) => queues.get(kind)!;
  let schedules: ScheduleQueue | null = null;

  return {
    prefix,
    connection,
    queue: queueOf,
    all: () => [...queues.values()],

    async add(jobs) {
      if (jobs.length === 0) return;
      ensureUp();
      await withTimeout(
        'an add',
        Promise.all(
          [...groupBy(jobs, (job) => job.kind)].map(([kind, group]) =>
            queueOf(kind).addBulk(
              group.map((job) => ({
                name: KINDS[kind].queue,
                data: { id: job.id },
                opts: { jobId: bullJobId(job), priority: priorityOf(job.turn) },
              })),
            ),
          ),
        ),
      );
    },

    async remove(jobs) {
      if (jobs.length === 0 || connection.status !== 'ready') return;
      await Promise.all(
        jobs.map((job) =>
          queueOf(job.kind)
            .remove(bullJobId(job))
            .catch(() => 0),
        ),
      );
    },

    async missing(jobs) {
      if (jobs.length === 0) return [];
      ensureUp();
      const pipeline = connection.pipeline();
      for (const job of jobs) pipeline.hmget(queueOf(job.kind).toKey(bullJobId(job)), 'timestamp', 'finishedOn');
      const replies = (await withTimeout('a presence check', pipeline.exec())) ?? [];
      const absent: (typeof jobs)[number][] = [];
      const finished: (typeof jobs)[number][] = [];
      jobs.forEach((job, index) => {
        const [error, fields] = replies[index] ?? [new Error('no reply'), null];
        if (error) throw error;
        const [timestamp, finishedOn] = fields as (string | null)[];
        if (timestamp === null) absent.push(job);
        else if (finishedOn !== null) finished.push(job);
      });
      // A finished entry for a row that is still QUEUED would make a re-add a no-op: drop it.
      await Promise.all(
        finished.map((job) =>
          queueOf(job.kind)
            .remove(bullJobId(job))
            .catch(() => 0),
        ),
      );
      return [...absent, ...finished];
    },

    get schedules() {
      schedules ??= createScheduleQueue({ connection, prefix, logger, timeoutMs });
      return schedules;
    },

    async close() {
      await Promise.all([...[...queues.values()].map((queue) => queue.close()), schedules?.close()]);
    },
  };
}
