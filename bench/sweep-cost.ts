/**
 * `node --import tsx bench/sweep-cost.ts`: what one `jobfleet sweeper --once` costs its own process with a backlog of
 * QUEUED jobs, each present in Redis. It builds a database of its own (jobfleet_bench_sweepdelta,
 * dropped at the end) holding QUEUED idea grills, one per idea (so that none supersedes another),
 * and the history of FINISHED jobs before them (4 transitions each), puts every queued job on its
 * queue under a prefix of its own (jfbench-sweepdelta, deleted at the end), then runs the sweeper
 * SWEEPS times, each a process of its own, timed by /usr/bin/time (wall, user and system CPU of
 * the process). The first sweep finds no marks of an earlier check and checks every QUEUED job;
 * the later ones, with nothing lost, look only at what changed. Run it alone, under the bench lock.
 *
 * Options: --queued N (100000), --finished N (250000), --sweeps N (4; the median of all but the first is printed), --bin PATH (the jobfleet
 * CLI to time, bin/jobfleet.js by default: another checkout's to compare), --keep (leave the
 * database and keys; the next run drops them first).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { createConnectionPool } from '../src/db/connection-pool.js';
import { withDefaultUser } from '../src/db/connection-string.js';
import type { Database, Db } from '../src/db/database.js';
import { maintenanceUrl } from '../src/db/ensure-database.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { createLogger } from '../src/logger.js';
import { loadConfig } from '../src/config.js';
import { createJobQueues } from '../src/queues/job-queues.js';
import { queueLayoutOf } from '../src/queues/queue-layout.js';
import { createProducerConnection, redisTargetOf } from '../src/queues/redis-connections.js';
import { sweepDepsOf } from '../src/cli/roles.js';
import { sweep } from '../src/sweeper/sweep.js';

const { values: options } = parseArgs({
  options: {
    queued: { type: 'string', default: '100000' },
    finished: { type: 'string', default: '250000' },
    sweeps: { type: 'string', default: '4' },
    bin: { type: 'string', default: path.join(import.meta.dirname, '..', 'bin', 'jobfleet.js') },
    keep: { type: 'boolean', default: false },
  },
});
const QUEUED = Number(options.queued);
const FINISHED = Number(options.finished);
const SWEEPS = Number(options.sweeps);

const serverUrl = process.env.DATABASE_URL || 'postgres://127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const dbName = 'jobfleet_bench_sweepdelta';
const prefix = 'jfbench-sweepdelta';
const dbUrl = Object.assign(new URL(withDefaultUser(serverUrl)), { pathname: `/${dbName}` }).toString();

async function admin(statement: string) {
  const client = new pg.Client({ connectionString: maintenanceUrl(serverUrl) });
  await client.connect();
  await client.query(statement).finally(() => client.end());
}

/** The backlog and the history before it, in SQL: rows in time order, as the door appends them. */
async function build(db: Db) {
  const { id: product } = await db
    .insertInto('products')
    .values({ owner_id: 'owner-a', name: 'Bench' })
    .returning('id')
    .executeTakeFirstOrThrow();
  await sql`
    CREATE TEMP TABLE bench_ideas AS
    SELECT gen_random_uuid() AS id, n FROM generate_series(1, ${QUEUED}) AS n
  `.execute(db);
  await sql`
    INSERT INTO ideas (id, product_id, title, prompt_text, status)
    SELECT id, ${product}, 'Idea ' || n, 'Bench.', 'GRILLING' FROM bench_ideas
  `.execute(db);
  // Finished jobs over the last day, on the first ideas, before the backlog.
  await sql`
    CREATE TEMP TABLE bench_finished AS
    SELECT gen_random_uuid() AS id, n, now() - interval '1 day' + (n::float / ${Math.max(FINISHED, 1)}) * interval '22 hours' AS c
    FROM generate_series(1, ${FINISHED}) AS n
  `.execute(db);
  await sql`
    INSERT INTO claude_jobs (id, kind, status, idea_id, product_id, owner_id, claim_epoch, attempt_count, claimed_at, started_at,
      finished_at, created_at, updated_at)
    SELECT f.id, 'IDEA_GRILL', 'DONE', i.id, ${product}, 'owner-a', 1, 1, f.c + interval '1 second', f.c + interval '2 seconds',
      f.c + interval '60 seconds', f.c, f.c + interval '60 seconds'
    FROM bench_finished f JOIN bench_ideas i ON i.n = 1 + f.n % ${QUEUED}
    ORDER BY f.c
  `.execute(db);
  await sql`
    INSERT INTO transitions (entity_type, entity_id, from_status, to_status, trigger, created_at)
    SELECT 'CLAUDE_JOB', id, from_status, to_status, trigger, at FROM (
      SELECT id, NULL AS from_status, 'QUEUED' AS to_status, 'created' AS trigger, c AS at FROM bench_finished
      UNION ALL SELECT id, 'QUEUED', 'CLAIMED', 'claimed', c + interval '1 second' FROM bench_finished
      UNION ALL SELECT id, 'CLAIMED', 'RUNNING', 'started', c + interval '2 seconds' FROM bench_finished
      UNION ALL SELECT id, 'RUNNING', 'DONE', 'finished', c + interval '60 seconds' FROM bench_finished
    ) AS h
    ORDER BY at
  `.execute(db);
  // The backlog: enqueued over the last hour, never claimed.
  await sql`
    CREATE TEMP TABLE bench_queued AS
    SELECT gen_random_uuid() AS id, i.id AS idea, now() - interval '1 hour' + (i.n::float / ${QUEUED}) * interval '55 minutes' AS c
    FROM bench_ideas i
  `.execute(db);
  await sql`
    INSERT INTO claude_jobs (id, kind, status, idea_id, product_id, owner_id, turn, created_at, updated_at)
    SELECT id, 'IDEA_GRILL', 'QUEUED', idea, ${product}, 'owner-a', 1, c, c FROM bench_queued ORDER BY c
  `.execute(db);
  await sql`
    INSERT INTO transitions (entity_type, entity_id, from_status, to_status, trigger, created_at)
    SELECT 'CLAUDE_JOB', id, NULL, 'QUEUED', 'created', c FROM bench_queued ORDER BY c
  `.execute(db);
}

/** Every QUEUED job on its queue, as its enqueue left it. */
async function fillQueues(db: Db) {
  const config = loadConfig({ REDIS_URL: redisUrl, BULLMQ_PREFIX: prefix, LOG_LEVEL: 'silent' });
  const logger = createLogger(config);
  const connection = createProducerConnection(redisTargetOf(config), logger);
  await new Promise<void>((resolve) => (connection.status === 'ready' ? resolve() : connection.once('ready', () => resolve())));
  const queues = createJobQueues({ connection, layout: queueLayoutOf(config), logger, timeoutMs: 60_000 });
  try {
    const jobs = await db
      .selectFrom('claude_jobs')
      .select(['id', 'kind', 'requeue_count', 'turn'])
      .where('status', '=', 'QUEUED')
      .execute();
    for (let start = 0; start < jobs.length; start += 1_000) await queues.add(jobs.slice(start, start + 1_000));
  } finally {
    await queues.close();
    connection.disconnect();
  }
}

function deleteKeys() {
  execFileSync('sh', [
    '-c',
    `redis-cli -u ${redisUrl} --scan --pattern '${prefix}:*' | xargs -r -n 1000 redis-cli -u ${redisUrl} unlink > /dev/null`,
  ]);
}

/**
 * The CPU of the sweep itself, without a process's start: sweep() called in this process, timed
 * by process.cpuUsage() (this process does nothing else meanwhile). The median of 5.
 */
async function inProcessCpu(db: Db): Promise<number> {
  const config = loadConfig({ DATABASE_URL: dbUrl, REDIS_URL: redisUrl, BULLMQ_PREFIX: prefix, LOG_LEVEL: 'silent' });
  const logger = createLogger(config);
  const connection = createProducerConnection(redisTargetOf(config), logger);
  await new Promise<void>((resolve) => (connection.status === 'ready' ? resolve() : connection.once('ready', () => resolve())));
  const queues = createJobQueues({ connection, layout: queueLayoutOf(config), logger, timeoutMs: 60_000 });
  const deps = sweepDepsOf(config, db, queues, logger);
  try {
    await sweep(deps);
    const samples: number[] = [];
    for (let n = 0; n < 5; n += 1) {
      const before = process.cpuUsage();
      await sweep(deps);
      const { user, system } = process.cpuUsage(before);
      samples.push((user + system) / 1e6);
    }
    return samples.sort((a, b) => a - b)[2]!;
  } finally {
    await queues.close();
    connection.disconnect();
  }
}

/** One `sweeper --once` process: its wall time, its CPU, and the report it printed. */
function sweepOnce(): { wall: number; cpu: number; report: string } {
  const env = { ...process.env, DATABASE_URL: dbUrl, REDIS_URL: redisUrl, BULLMQ_PREFIX: prefix, LOG_LEVEL: 'silent' };
  const out = execFileSync('sh', ['-c', `/usr/bin/time -f 'TIME %e %U %S' "${process.execPath}" "${options.bin}" sweeper --once 2>&1`], {
    env,
    encoding: 'utf8',
  });
  const [, wall, user, system] = /TIME (\S+) (\S+) (\S+)/.exec(out)!;
  return { wall: Number(wall), cpu: Number(user) + Number(system), report: out.split('\n').find((line) => line.startsWith('{')) ?? '' };
}

await admin(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(dbName)} WITH (FORCE)`);
deleteKeys();
await admin(`CREATE DATABASE ${pg.escapeIdentifier(dbName)}`);
const db: Db = new Kysely<Database>({
  dialect: new PostgresDialect({ pool: createConnectionPool({ connectionString: dbUrl, max: 4, applicationName: 'sweep-cost' }) }),
});
try {
  await migrateToLatest(db);
  await build(db);
  await sql`VACUUM ANALYZE`.execute(db);
  await fillQueues(db);
  console.log(`${QUEUED.toLocaleString('en')} queued, ${(FINISHED * 4 + QUEUED).toLocaleString('en')} history rows; ${options.bin}`);
  console.log('| sweep | wall (s) | CPU (s) | report |');
  console.log('|---|---:|---:|---|');
  const later: { wall: number; cpu: number }[] = [];
  for (let n = 1; n <= SWEEPS; n += 1) {
    const { wall, cpu, report } = sweepOnce();
    if (n > 1) later.push({ wall, cpu });
    console.log(`| ${n} | ${wall.toFixed(2)} | ${cpu.toFixed(2)} | ${report} |`);
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
  console.log(
    `| median of sweeps 2-${SWEEPS} | ${median(later.map((run) => run.wall)).toFixed(2)} | ${median(later.map((run) => run.cpu)).toFixed(2)} | |`,
  );
  console.log(`in this process, sweep() after those (median of 5): ${(await inProcessCpu(db)).toFixed(3)} s CPU`);
} finally {
  await db.destroy();
  if (!options.keep) {
    await admin(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(dbName)} WITH (FORCE)`);
    deleteKeys();
  }
}
