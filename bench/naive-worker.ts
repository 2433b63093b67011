/**
 * Baseline 2: the naive durable design. BullMQ plus three guarded single-row Postgres updates
 * per job (QUEUED -> CLAIMED -> RUNNING -> DONE), each its own statement and commit; no history,
 * no batching. Prints `done <epoch ms> <peak rss bytes>` after BENCH_JOBS jobs.
 *
 * env: DATABASE_URL, REDIS_URL, BENCH_PREFIX, BENCH_QUEUE, BENCH_JOBS, BENCH_CONCURRENCY, BENCH_POOL.
 */
import { Worker } from 'bullmq';
import pg from 'pg';
import { withDefaultUser } from '../src/db/connection-string.js';
import { workerConnectionOptions } from '../src/queues/redis-connections.js';
import { peakRss } from './measure.js';

const pool = new pg.Pool({ connectionString: withDefaultUser(process.env.DATABASE_URL!), max: Number(process.env.BENCH_POOL) });
const total = Number(process.env.BENCH_JOBS);
let processed = 0;

async function move(id: string, from: string, to: string) {
  const result = await pool.query('UPDATE naive_jobs SET status = $3 WHERE id = $1 AND status = $2', [id, from, to]);
  return result.rowCount === 1;
}

const worker = new Worker<{ id: string }>(
  process.env.BENCH_QUEUE!,
  async (job) => {
    if (!(await move(job.data.id, 'QUEUED', 'CLAIMED'))) return;
    await move(job.data.id, 'CLAIMED', 'RUNNING');
    await move(job.data.id, 'RUNNING', 'DONE');
    processed += 1;
    if (processed === total) process.stdout.write(`done ${Date.now()} ${peakRss()}\n`);
  },
  { connection: workerConnectionOptions(process.env.REDIS_URL!), prefix: process.env.BENCH_PREFIX!, concurrency: Number(process.env.BENCH_CONCURRENCY) },
);
worker.on('error', () => {});
await worker.waitUntilReady();
process.stdout.write('ready\n');
process.once('SIGTERM', () => void worker.close().then(() => pool.end()).then(() => process.exit(0)));
