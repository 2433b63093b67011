/**
 * The lifecycle both baseline workers share: a BullMQ Worker on BENCH_QUEUE (under BENCH_PREFIX,
 * at BENCH_CONCURRENCY) that prints `ready` once connected, `done <epoch ms> <peak rss bytes>`
 * after BENCH_JOBS jobs, and closes on SIGTERM.
 */
import { Worker } from 'bullmq';
import { createLogger } from '../src/logger.js';
import { workerConnection } from '../src/queues/redis-connections.js';
import { peakRss } from './measure.js';

/**
 * `handle` does a baseline's work for one job id and answers false for a delivery that does not
 * count (a second delivery); `onClose` runs after the worker closes.
 */
export async function runBaselineWorker(handle: (id: string) => Promise<boolean>, onClose: () => Promise<void> = async () => {}) {
  const total = Number(process.env.BENCH_JOBS);
  let processed = 0;
  const worker = new Worker<{ id: string }>(
    process.env.BENCH_QUEUE!,
    async (job) => {
      if (!(await handle(job.data.id))) return;
      processed += 1;
      if (processed === total) process.stdout.write(`done ${Date.now()} ${peakRss()}\n`);
    },
    {
      connection: workerConnection({ url: process.env.REDIS_URL!, clusterNodes: null }, createLogger({ LOG_LEVEL: 'silent' })).connection,
      prefix: process.env.BENCH_PREFIX!,
      concurrency: Number(process.env.BENCH_CONCURRENCY),
    },
  );
  worker.on('error', () => {});
  await worker.waitUntilReady();
  process.stdout.write('ready\n');
  process.once(
    'SIGTERM',
    () =>
      void worker
        .close()
        .then(onClose)
        .then(() => process.exit(0)),
  );
}
