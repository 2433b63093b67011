/**
 * `npm run bench:drain`: where a job's CPU goes. Enqueues N PLAN_CHAT jobs with no worker
 * running, then starts one `jobfleet worker` (the compiled build) and lets it drain them, and
 * prints, per job, the CPU time each process spent (read from /proc, so Linux only): the enqueue
 * (this process and Postgres), then the drain (the worker, Postgres, Redis). BENCHMARKS.md's
 * accounting comes from it. Run `npm run build` first.
 *
 * Options: --jobs N (20000), --concurrency C (100), --cli FILE (the compiled build's CLI).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { createDatabase } from '../src/db/database.js';
import { maintenanceUrl } from '../src/db/ensure-database.js';
import { withDefaultUser } from '../src/db/connection-string.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { enqueueJobs } from '../src/jobs/enqueue-jobs.js';
import '../src/kinds/index.js'; // installs the kind handlers and cascades that enqueue and the door use
import { createLogger } from '../src/logger.js';
import { createJobQueues } from '../src/queues/job-queues.js';
import { createProducerConnection, serverConnection } from '../src/queues/redis-connections.js';
import { queueLayoutOf } from '../src/queues/queue-layout.js';
import { loadConfig } from '../src/config.js';
import { spawnChild } from './children.js';
import { createIdeas } from './ideas.js';

const { values: options } = parseArgs({
  options: {
    jobs: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '100' },
    cli: { type: 'string', default: 'dist/src/cli/main.js' },
  },
});
const JOBS = Number(options.jobs);
const CONCURRENCY = Number(options.concurrency);
if (!(Number.isInteger(JOBS) && JOBS > 0 && Number.isInteger(CONCURRENCY) && CONCURRENCY > 0))
  throw new Error('bench:drain: --jobs and --concurrency must be positive integers');

const serverUrl = process.env.DATABASE_URL || 'postgres://127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const dbName = `jobfleet_drain_${process.pid}`;
const dbUrl = Object.assign(new URL(withDefaultUser(serverUrl)), { pathname: `/${dbName}` }).toString();
const prefix = `jfdrain-${process.pid}`;
const logger = createLogger({ LOG_LEVEL: 'warn' });

/** CPU seconds (user and system) of the processes named `comm`, or of these pids. */
function cpuSeconds(which: string | number[]): number {
  const pids =
    typeof which === 'string'
      ? readdirSync('/proc')
          .filter((p) => /^\d+$/.test(p) && commOf(p) === which)
          .map(Number)
      : which;
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process is gone
    }
  }
  return ticks / 100;
}
function commOf(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}
const perJob = (seconds: number) => `${Math.round((seconds / JOBS) * 1e6)} µs`;

async function admin(statement: string) {
  const client = new pg.Client({ connectionString: maintenanceUrl(serverUrl) });
  await client.connect();
  await client.query(statement).finally(() => client.end());
}

await admin(`CREATE DATABASE ${pg.escapeIdentifier(dbName)}`);
const db = createDatabase({ connectionString: dbUrl, poolMax: 4 });
// The bench measures one Redis server (the layout of REDIS_URL alone).
const producer = serverConnection(createProducerConnection({ url: redisUrl, clusterNodes: null }, logger));
await new Promise((resolve) => producer.once('ready', resolve));
const queues = createJobQueues({
  connection: producer,
  layout: queueLayoutOf(loadConfig({ REDIS_URL: redisUrl, BULLMQ_PREFIX: prefix })),
  logger,
});
try {
  await migrateToLatest(db);
  const { id: product } = await db
    .insertInto('products')
    .values({ owner_id: 'bench', name: 'Drain' })
    .returning('id')
    .executeTakeFirstOrThrow();
  const ideas = await createIdeas(db, product, JOBS, 'Drain.');

  const enqueue = { node: process.cpuUsage(), postgres: cpuSeconds('postgres'), at: performance.now() };
  for (let start = 0; start < JOBS; start += 1_000) {
    const requests = ideas
      .slice(start, start + 1_000)
      .map((idea) => ({ kind: 'PLAN_CHAT' as const, subjectId: idea, payload: { message: 'drain' } }));
    await enqueueJobs({ db, queues, logger }, requests, { actorTokenId: null });
  }
  const node = process.cpuUsage(enqueue.node);
  const enqueueSeconds = (performance.now() - enqueue.at) / 1000;
  const enqueuePostgres = cpuSeconds('postgres') - enqueue.postgres;
  await sql`VACUUM ANALYZE`.execute(db);

  const worker = spawnChild(
    options.cli,
    {
      DATABASE_URL: dbUrl,
      REDIS_URL: redisUrl,
      BULLMQ_PREFIX: prefix,
      LOG_LEVEL: 'warn',
      AGENT: 'dry-run',
      WORKER_CONCURRENCY: String(CONCURRENCY),
    },
    ['worker', '--kinds', 'plan_chat'],
  );
  await worker.line(/jobfleet worker \S+ running/);
  const before = { worker: cpuSeconds([worker.pid]), postgres: cpuSeconds('postgres'), redis: cpuSeconds('redis-server') };
  for (;;) {
    const { live } = (
      await sql<{
        live: boolean;
      }>`SELECT EXISTS (SELECT 1 FROM claude_jobs WHERE status IN ('QUEUED', 'CLAIMED', 'RUNNING')) AS live`.execute(db)
    ).rows[0]!;
    if (!live) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const after = { worker: cpuSeconds([worker.pid]), postgres: cpuSeconds('postgres'), redis: cpuSeconds('redis-server') };
  const { first, last } = (
    await sql<{ first: Date; last: Date }>`SELECT min(started_at) AS first, max(finished_at) AS last FROM claude_jobs`.execute(db)
  ).rows[0]!;
  await worker.stop();

  process.stdout.write(
    [
      `enqueue: ${Math.round(JOBS / enqueueSeconds)} jobs/s; CPU per job: this process ${perJob((node.user + node.system) / 1e6)}, Postgres ${perJob(enqueuePostgres)}`,
      `drain at concurrency ${CONCURRENCY}: ${Math.round(JOBS / ((last.getTime() - first.getTime()) / 1000))} jobs/s; CPU per job: worker ${perJob(after.worker - before.worker)}, Postgres ${perJob(after.postgres - before.postgres)}, Redis ${perJob(after.redis - before.redis)}`,
      '',
    ].join('\n'),
  );
} finally {
  await queues.close();
  for await (const keys of producer.scanStream({ match: `${prefix}:*`, count: 1000 }) as AsyncIterable<string[]>)
    if (keys.length) await producer.unlink(...keys);
  producer.disconnect();
  await db.destroy();
  await admin(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(dbName)} WITH (FORCE)`);
}
process.exit(0);
