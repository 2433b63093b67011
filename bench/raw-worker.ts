/**
 * Baseline 1: raw BullMQ. A worker whose processor does nothing, with the same queue settings as
 * jobfleet's (finished jobs kept briefly). It prints `done <epoch ms> <peak rss bytes>` after
 * BENCH_JOBS deliveries.
 *
 * env: REDIS_URL, BENCH_PREFIX, BENCH_QUEUE, BENCH_JOBS, BENCH_CONCURRENCY.
 */
import { Worker } from 'bullmq';
import { workerConnectionOptions } from '../src/queues/redis-connections.js';
import { peakRss } from './measure.js';

const total = Number(process.env.BENCH_JOBS);
let processed = 0;
const worker = new Worker(
  process.env.BENCH_QUEUE!,
  async () => {
    processed += 1;
    if (processed === total) process.stdout.write(`done ${Date.now()} ${peakRss()}\n`);
  },
  { connection: workerConnectionOptions(process.env.REDIS_URL!), prefix: process.env.BENCH_PREFIX!, concurrency: Number(process.env.BENCH_CONCURRENCY) },
);
worker.on('error', () => {});
await worker.waitUntilReady();
process.stdout.write('ready\n');
process.once('SIGTERM', () => void worker.close().then(() => process.exit(0)));
