/**
 * Peer 1: graphile-worker, a durable queue on Postgres alone. One runner with a no-op task,
 * configured by BENCH_CONFIG (see GRAPHILE_CONFIGS in bench/peers.ts). It prints `ready` once
 * it listens for new jobs, and `done <epoch ms> <peak rss bytes>` once BENCH_JOBS jobs have run
 * and the queue holds none: graphile-worker deletes a job's row when it records the job
 * complete, and with batched completions that comes after the task returns.
 *
 * env: DATABASE_URL, BENCH_TASK, BENCH_JOBS, BENCH_CONFIG (JSON).
 */
import { EventEmitter } from 'node:events';
import { Logger, run, type WorkerEvents } from 'graphile-worker';
import pg from 'pg';
import { withDefaultUser } from '../src/db/connection-string.js';
import { peakRss } from './measure.js';
import type { GraphileConfig } from './peers.js';

const total = Number(process.env.BENCH_JOBS);
const config = JSON.parse(process.env.BENCH_CONFIG!) as GraphileConfig;
const connectionString = withDefaultUser(process.env.DATABASE_URL!);

let processed = 0;
let allRan!: () => void;
const ran = new Promise<void>((resolve) => (allRan = resolve));
const events: WorkerEvents = new EventEmitter();
const listening = new Promise<void>((resolve) => events.once('pool:listen:success', () => resolve()));

const runner = await run({
  noHandleSignals: true,
  events,
  // Warnings and errors only, as jobfleet's processes run (LOG_LEVEL=warn): its default logger
  // prints a line for every job.
  logger: new Logger(() => (level, message) => {
    if (String(level) === 'error' || String(level) === 'warning') process.stderr.write(`graphile-worker ${level}: ${message}\n`);
  }),
  taskList: {
    [process.env.BENCH_TASK!]: async () => {
      processed += 1;
      if (processed === total) allRan();
    },
  },
  preset: {
    worker: {
      connectionString,
      concurrentJobs: config.concurrent_jobs,
      maxPoolSize: config.max_pool_size,
      ...(config.local_queue_size > 0 ? { localQueue: { size: config.local_queue_size } } : {}),
      completeJobBatchDelay: config.complete_job_batch_delay,
      failJobBatchDelay: config.fail_job_batch_delay,
    },
  },
});
await listening;
process.stdout.write('ready\n');
process.once('SIGTERM', () => void runner.stop().then(() => process.exit(0)));

await ran;
// Polled only once every task has run: what is left is the last completions' commit.
const client = new pg.Client({ connectionString });
await client.connect();
while ((await client.query<{ left: boolean }>('SELECT EXISTS (SELECT 1 FROM graphile_worker.jobs) AS left')).rows[0]!.left) {
  await new Promise((resolve) => setTimeout(resolve, 5));
}
process.stdout.write(`done ${Date.now()} ${peakRss()}\n`);
await client.end();
