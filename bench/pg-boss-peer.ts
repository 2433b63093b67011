/**
 * Peer 2: pg-boss, a durable queue on Postgres alone. `work()` loops with a no-op handler on
 * BENCH_QUEUE, as many and as configured as BENCH_CONFIG says (see PG_BOSS_CONFIGS in
 * bench/peers.ts). It prints `ready` once its loops run, and `done <epoch ms> <peak rss bytes>`
 * once BENCH_JOBS jobs have run and the queue records every one completed; the time is the last
 * `completed_on`: pg-boss completes a batch after its handler returns, without waiting for it.
 *
 * env: DATABASE_URL, BENCH_QUEUE, BENCH_JOBS, BENCH_CONFIG (JSON).
 */
import PgBoss from 'pg-boss';
import pg from 'pg';
import { withDefaultUser } from '../src/db/connection-string.js';
import { peakRss } from './measure.js';
import type { PgBossConfig } from './peers.js';

const total = Number(process.env.BENCH_JOBS);
const queue = process.env.BENCH_QUEUE!;
const config = JSON.parse(process.env.BENCH_CONFIG!) as PgBossConfig;
const connectionString = withDefaultUser(process.env.DATABASE_URL!);

let processed = 0;
let allRan!: () => void;
const ran = new Promise<void>((resolve) => (allRan = resolve));

const boss = new PgBoss({ connectionString });
boss.on('error', (error) => process.stderr.write(`pg-boss error: ${error.message}\n`));
await boss.start();
// Options left out are pg-boss's defaults (batchSize 1, a poll every 2 seconds).
const options: PgBoss.WorkOptions = {
  ...(config.batch_size === null ? {} : { batchSize: config.batch_size }),
  ...(config.polling_interval_seconds === null ? {} : { pollingIntervalSeconds: config.polling_interval_seconds }),
};
for (let loop = 0; loop < config.work_loops; loop += 1) {
  await boss.work(queue, options, async (jobs) => {
    processed += jobs.length;
    if (processed === total) allRan();
  });
}
process.stdout.write('ready\n');
process.once('SIGTERM', () => void boss.stop({ graceful: true, wait: true }).then(() => process.exit(0)));

await ran;
// Polled only once every handler has run: what is left is the last completions' commit.
const client = new pg.Client({ connectionString });
await client.connect();
for (;;) {
  const { rows } = await client.query<{ completed: string; last: Date | null }>(
    "SELECT count(*) FILTER (WHERE state = 'completed') AS completed, max(completed_on) AS last FROM pgboss.job WHERE name = $1",
    [queue],
  );
  if (Number(rows[0]!.completed) >= total) {
    process.stdout.write(`done ${rows[0]!.last!.getTime()} ${peakRss()}\n`);
    break;
  }
  await new Promise((resolve) => setTimeout(resolve, 5));
}
await client.end();
