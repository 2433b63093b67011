/**
 * The producer side of the kinds' BullMQ queues. Redis carries only job ids: the payload and
 * every status live in Postgres. BullMQ's job id is the row id (suffixed with the requeue count
 * after a stale claim was requeued, because BullMQ ignores an add whose id it still holds).
 * Which queue a job goes to, and under which prefix, is the layout's (queue-layout.ts): one per
 * kind, or several for a kind split with QUEUE_SHARDS.
 */
import { Queue } from 'bullmq';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../logger.js';
import { priorityOf } from './job-priority.js';
import { createScheduleQueue, type ScheduleQueue } from './schedule-queue.js';
import { groupBy } from '../util/group-by.js';
import { JOB_KINDS, type JobKind } from './kinds.js';
import { bullPrefixOf, type QueueLayout, shardIndexOf, shardNamesOf } from './queue-layout.js';
import type { RedisClient } from './redis-connections.js';
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
  /** BULLMQ_PREFIX: jobfleet's own keys and channels start with it. */
  readonly prefix: string;
  readonly layout: QueueLayout;
  /** The producer connection the queues share (for jobfleet's own keys beside BullMQ's). */
  readonly connection: RedisClient;
  /** The queue a job of this id is (or would be) in. */
  queueOf(job: { id: string; kind: JobKind }): Queue<QueuedJobData>;
  /** Every queue of a kind: one, or its shards. */
  queuesOf(kind: JobKind): Queue<QueuedJobData>[];
  /** The kind's queue, for a kind that is not split (tests and tools); throws for a split kind. */
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
  connection: RedisClient;
  layout: QueueLayout;
  logger: Logger;
  /** How long an add may wait on Redis before the caller gives up on it. */
  timeoutMs?: number;
}

export function createJobQueues({ connection, layout, logger, timeoutMs = 3_000 }: JobQueuesOptions): JobQueues {
  const open = (name: string) => {
    const queue = new Queue<QueuedJobData>(name, {
      connection,
      prefix: bullPrefixOf(layout, name),
      defaultJobOptions: {
        removeOnComplete: KEEP_COMPLETED,
        removeOnFail: KEEP_FAILED,
        // Only a claim that could not reach Postgres fails a delivery; try it again later.
        attempts: 5,
        backoff: { type: 'exponential', delay: 1_000 },
      },
    });
    queue.on('error', (error) => logger.warn({ queue: queue.name, err: error.message }, 'queue error'));
    return queue;
  };
  const queues = new Map<JobKind, Queue<QueuedJobData>[]>(JOB_KINDS.map((kind) => [kind, shardNamesOf(layout, kind).map(open)]));

  const ensureUp = () => {
    if (connection.status !== 'ready') {
      throw new AppError('service_unavailable', `Redis is not connected (${connection.status})`);
    }
  };

  const withTimeout = redisDeadline(timeoutMs);

  const queuesOf = (kind: JobKind) => queues.get(kind)!;
  const queueOf = (job: { id: string; kind: JobKind }) => queuesOf(job.kind)[shardIndexOf(layout, job.kind, job.id)]!;
  let schedules: ScheduleQueue | null = null;

  return {
    prefix: layout.prefix,
    layout,
    connection,
    queueOf,
    queuesOf,
    queue(kind) {
      const [only, ...more] = queuesOf(kind);
      if (more.length > 0) throw new AppError('internal', `${kind} is split over ${more.length + 1} queues: ask for a job's queue`);
      return only!;
    },
    all: () => [...queues.values()].flat(),

    async add(jobs) {
      if (jobs.length === 0) return;
      ensureUp();
      await withTimeout(
        'an add',
        Promise.all(
          [...groupBy(jobs, queueOf)].map(([queue, group]) =>
            queue.addBulk(
              group.map((job) => ({
                name: queue.name,
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
      // Best effort under a deadline: a removal that never returns must not hold up whoever
      // waits behind it (the enqueue batcher chains its batches' queue work in commit order); an
      // entry left behind is dropped at its claim.
      await withTimeout(
        'a removal',
        Promise.all(
          jobs.map((job) =>
            queueOf(job)
              .remove(bullJobId(job))
              .catch(() => 0),
          ),
        ),
      ).catch(() => undefined);
    },

    async missing(jobs) {
      if (jobs.length === 0) return [];
      ensureUp();
      // One pipeline per queue: a cluster runs a pipeline only when its keys share a slot.
      const found = await withTimeout(
        'a presence check',
        Promise.all(
          [...groupBy(jobs, queueOf)].map(async ([queue, group]) => {
            const pipeline = connection.pipeline();
            for (const job of group) pipeline.hmget(queue.toKey(bullJobId(job)), 'timestamp', 'finishedOn');
            const replies = (await pipeline.exec()) ?? [];
            return group.map((job, index) => {
              const [error, fields] = replies[index] ?? [new Error('no reply'), null];
              if (error) throw error;
              const [timestamp, finishedOn] = fields as (string | null)[];
              return { job, absent: timestamp === null, finished: timestamp !== null && finishedOn !== null };
            });
          }),
        ),
      );
      const seen = found.flat();
      const absent = seen.filter((entry) => entry.absent).map((entry) => entry.job);
      const finished = seen.filter((entry) => entry.finished).map((entry) => entry.job);
      // A finished entry for a row that is still QUEUED would make a re-add a no-op: drop it.
      await Promise.all(
        finished.map((job) =>
          queueOf(job)
            .remove(bullJobId(job))
            .catch(() => 0),
        ),
      );
      return [...absent, ...finished];
    },

    get schedules() {
      schedules ??= createScheduleQueue({ connection, layout, logger, timeoutMs });
      return schedules;
    },

    async close() {
      await Promise.all([...[...queues.values()].flat().map((queue) => queue.close()), schedules?.close()]);
    },
  };
}
