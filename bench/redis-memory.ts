/**
 * `npm run bench:redis-memory`: what a job costs Redis, for sizing it. Under a fresh prefix it
 * adds N queued jobs through jobfleet's own producer (the same ids, priorities and job options
 * as the enqueue path), then drains a thousand into the completed set and a thousand into the
 * failed set with a plain BullMQ worker, and prints one JSON line of bytes per job. Every key it
 * made is deleted at the end, whatever happens.
 *
 * Two measures of each: the sum of `MEMORY USAGE` over the prefix's keys (only this run's keys,
 * so other clients of a shared Redis do not disturb it) and `INFO memory`'s used_memory before
 * and after (the allocator's whole view, which they do).
 *
 *   npm run bench:redis-memory -- [--jobs 100000] [--finished 1000]   (REDIS_URL, default local)
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { UnrecoverableError, Worker } from 'bullmq';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { type AddableJob, createJobQueues, KEEP_COMPLETED, KEEP_FAILED } from '../src/queues/job-queues.js';
import { bullPrefixOf, queueLayoutOf } from '../src/queues/queue-layout.js';
import { createProducerConnection, serverConnection, workerConnection } from '../src/queues/redis-connections.js';

const { values } = parseArgs({ options: { jobs: { type: 'string', default: '100000' }, finished: { type: 'string', default: '1000' } } });
const JOBS = Number(values.jobs);
const FINISHED = Number(values.finished);
if (!(Number.isInteger(JOBS) && JOBS > 0 && Number.isInteger(FINISHED) && FINISHED > 0))
  throw new Error('bench:redis-memory: --jobs and --finished must be positive integers');

const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const prefix = `jfredismem-${process.pid}`;
const logger = createLogger({ LOG_LEVEL: 'warn' });
// One Redis server (REDIS_URL alone): SCAN, MEMORY USAGE and INFO answer for one node.
const target = { url: redisUrl, clusterNodes: null };
const redis = serverConnection(createProducerConnection(target, logger));
await new Promise((resolve) => redis.once('ready', resolve));
const layout = queueLayoutOf(loadConfig({ REDIS_URL: redisUrl, BULLMQ_PREFIX: prefix }));
const queues = createJobQueues({
  connection: redis,
  layout,
  logger,
  timeoutMs: 60_000,
});

async function usedMemory(): Promise<number> {
  const info = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)![1]);
}

async function keysOf(pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

/** Bytes Redis holds for these keys (SAMPLES 0: every element of a big set, not an estimate). */
async function bytesOf(keys: readonly string[]): Promise<number> {
  let total = 0;
  for (let i = 0; i < keys.length; i += 1000) {
    const pipeline = redis.pipeline();
    for (const key of keys.slice(i, i + 1000)) pipeline.memory('USAGE', key, 'SAMPLES', 0);
    for (const [error, bytes] of (await pipeline.exec()) ?? []) {
      if (error) throw error;
      total += Number(bytes ?? 0);
    }
  }
  return total;
}

async function addJobs(kind: AddableJob['kind'], count: number): Promise<void> {
  // The enqueue path adds in batches of up to a thousand, one turn after another for one owner.
  for (let done = 0; done < count; done += 1000) {
    const batch = Array.from({ length: Math.min(1000, count - done) }, (_, i) => ({
      id: randomUUID(),
      kind,
      requeue_count: 0,
      turn: done + i + 1,
    }));
    await queues.add(batch);
  }
}

/** Drains a kind's queue with a plain BullMQ worker; jobfleet's own answers 'DONE' or fails unrecoverably. */
async function drain(kind: AddableJob['kind'], count: number, outcome: 'completed' | 'failed'): Promise<void> {
  let finished = 0;
  let resolveAll: () => void;
  const all = new Promise<void>((resolve) => {
    resolveAll = resolve;
  });
  const queue = queues.queue(kind);
  const worker = new Worker(
    queue.name,
    async () => {
      if (outcome === 'failed') throw new UnrecoverableError('agent_failed: the agent exited with code 1');
      return 'DONE';
    },
    { connection: workerConnection(target, logger).connection, prefix: bullPrefixOf(layout, queue.name), concurrency: 100 },
  );
  worker.on('error', () => {});
  worker.on(outcome, () => {
    finished += 1;
    if (finished === count) resolveAll();
  });
  await all;
  await worker.close();
}

/** A queue's job hashes in one state and that state's own set. */
async function stateBytes(kind: AddableJob['kind'], state: 'completed' | 'failed') {
  const queue = queues.queue(kind);
  const jobs = await queue.getJobs([state], 0, -1);
  const jobKeys = jobs.map((job) => queue.toKey(job.id!));
  return { jobs: jobs.length, bytes: (await bytesOf(jobKeys)) + (await bytesOf([queue.toKey(state)])) };
}

try {
  await redis.ping();
  // Queues exist before the baseline, so their own few keys are not counted as jobs.
  await addJobs('PLAN_CHAT', 1);
  const queue = queues.queue('PLAN_CHAT');
  const eventsKey = queue.toKey('events');
  const baseKeys = await bytesOf(await keysOf(`${prefix}:*`));
  const baseUsed = await usedMemory();
  await addJobs('PLAN_CHAT', JOBS);
  const queuedKeys = (await bytesOf(await keysOf(`${prefix}:*`))) - baseKeys;
  const queuedUsed = (await usedMemory()) - baseUsed;
  const eventsBytes = await bytesOf([eventsKey]);
  const oneJob = await bytesOf([queue.toKey((await queue.getJobs(['prioritized'], 0, 0))[0]!.id!)]);

  await addJobs('IDEA_GRILL', FINISHED);
  await drain('IDEA_GRILL', FINISHED, 'completed');
  await addJobs('IDEA_MAKE_PLAN', FINISHED);
  await drain('IDEA_MAKE_PLAN', FINISHED, 'failed');
  const completed = await stateBytes('IDEA_GRILL', 'completed');
  const failed = await stateBytes('IDEA_MAKE_PLAN', 'failed');
  const perCompleted = Math.round(completed.bytes / completed.jobs);
  const perFailed = Math.round(failed.bytes / failed.jobs);

  const info = await redis.info('server');
  process.stdout.write(
    `${JSON.stringify({
      command: 'npm run bench:redis-memory',
      redis: /^redis_version:(\S+)/m.exec(info)?.[1],
      queued: {
        jobs: JOBS,
        bytes_per_job_keys: Math.round(queuedKeys / JOBS),
        bytes_per_job_used_memory: Math.round(queuedUsed / JOBS),
        one_job_hash_bytes: oneJob,
        events_stream_bytes: eventsBytes,
      },
      completed: { jobs: completed.jobs, bytes_per_job: perCompleted },
      failed: { jobs: failed.jobs, bytes_per_job: perFailed },
      kept_per_queue_at_most_bytes: KEEP_COMPLETED.count * perCompleted + KEEP_FAILED.count * perFailed,
    })}\n`,
  );
} finally {
  await queues.close().catch(() => {});
  const keys = await keysOf(`${prefix}:*`);
  for (let i = 0; i < keys.length; i += 1000) await redis.unlink(...keys.slice(i, i + 1000));
  await redis.quit();
}
