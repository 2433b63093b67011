/**
 * `npm run scale:hosts`: jobfleet's workers on several hosts, made on one machine with Linux
 * network namespaces (bench/network-hosts.ts), against a Redis Cluster and a Postgres of the
 * script's own reached over the links. Measures jobs DONE per second with 1, 2, ... hosts (the
 * same workers and concurrency per host) and the CPU of Postgres, Redis and the workers, says what
 * binds each run, prints a table and writes it into BENCHMARKS.md ("Workers on many hosts").
 *
 * It needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN) and refuses without. Whatever happens (an
 * error, SIGINT, SIGTERM) it removes its namespaces, links, servers and data; a run killed outright
 * leaves them behind, and the next run removes them first (all named `jfhost-`).
 *
 * Options: --hosts H (3), --jobs N per run (20000), --workers-per-host W (1), --concurrency C (20),
 * --job-delay-ms D (50, each dry-run job's wait), --link-delay-ms L (0.2, netem on each end of each
 * link, where the kernel has it), --shards S (3 queues for the kind), --replicas R (1 per master),
 * --subnet A.B.C (10.213.0), --no-write, --benchmarks FILE, --cli FILE (the compiled build's CLI).
 */
import { execFile, execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { sql } from 'kysely';
import { loadConfig } from '../src/config.js';
import { createDatabase, type Db } from '../src/db/database.js';
import { enqueueJobs } from '../src/jobs/enqueue-jobs.js';
import '../src/kinds/index.js'; // installs the kind handlers and cascades that enqueue and the door use
import { createLogger } from '../src/logger.js';
import { MACHINES } from '../src/machines/index.js';
import { createJobQueues, type JobQueues } from '../src/queues/job-queues.js';
import { queueLayoutOf } from '../src/queues/queue-layout.js';
import { createProducerConnection, type RedisClient, redisTargetOf } from '../src/queues/redis-connections.js';
import { createEntities } from '../src/transitions/index.js';
import { startPrivatePostgres } from '../test/helpers/postgres-server.js';
import { startRedisCluster } from '../test/helpers/redis-cluster.js';
import { type Child, spawnChild } from './children.js';
import { round } from './measure.js';
import { checkNetworkRights, createHostNetwork, type HostNetwork, NetworkRightsError, removeHostNetwork } from './network-hosts.js';
import { cpuSecondsOf, cpuSecondsOfTree, machineCpuSeconds } from './process-cpu.js';
import { claimRunFolder } from './run-folder.js';
import { type CoresUsed, type HostsResults, type HostsRun, printHostsTable, whatBinds, writeHostsSection } from './scale-hosts-report.js';

const { values: options } = parseArgs({
  options: {
    hosts: { type: 'string', default: '3' },
    jobs: { type: 'string', default: '20000' },
    'workers-per-host': { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '20' },
    'job-delay-ms': { type: 'string', default: '50' },
    'link-delay-ms': { type: 'string', default: '0.2' },
    shards: { type: 'string', default: '3' },
    replicas: { type: 'string', default: '1' },
    subnet: { type: 'string', default: '10.213.0' },
    'no-write': { type: 'boolean', default: false },
    benchmarks: { type: 'string', default: path.join(import.meta.dirname, '..', 'BENCHMARKS.md') },
    cli: { type: 'string', default: 'dist/src/cli/main.js' },
  },
});

const positive = (name: keyof typeof options, min = 1) => {
  const value = Number(options[name]);
  if (!(Number.isInteger(value) && value >= min)) throw new Error(`scale:hosts: --${name} must be an integer from ${min}`);
  return value;
};
const HOSTS = positive('hosts');
const JOBS = positive('jobs');
const WORKERS_PER_HOST = positive('workers-per-host');
const CONCURRENCY = positive('concurrency');
const JOB_DELAY_MS = positive('job-delay-ms', 0);
const SHARDS = positive('shards');
const REPLICAS = positive('replicas', 0);
const LINK_DELAY_MS = Number(options['link-delay-ms']);
if (!(LINK_DELAY_MS >= 0)) throw new Error('scale:hosts: --link-delay-ms must be a number from 0');
const SUBNET = options.subnet;
if (!/^10\.\d{1,3}\.\d{1,3}$/.test(SUBNET)) throw new Error('scale:hosts: --subnet must be the first three octets of a 10.x.y.0/24');
const REDIS_MASTERS = 3;

/** Every namespace, link and folder of a run starts with it; a later run deletes what a killed one left. */
const PREFIX = 'jfhost-';
const logger = createLogger({ LOG_LEVEL: 'warn' });
const log = (line: string) => process.stderr.write(`scale:hosts: ${line}\n`);
const run = promisify(execFile);

/** What to undo, last made first; run once, by whichever comes first: the end, an error or a signal. */
const undo: { what: string; fn: () => Promise<unknown> | unknown }[] = [];
let stopping: Promise<never> | null = null;
function shutdown(code: number): Promise<never> {
  stopping ??= (async () => {
    for (const step of undo.splice(0).reverse()) {
      try {
        await Promise.race([
          step.fn(),
          new Promise((_, reject) => setTimeout(() => reject(new Error('did not finish within 30 s')), 30_000).unref()),
        ]);
      } catch (error) {
        log(`cleaning up ${step.what} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    process.exit(code);
  })();
  return stopping;
}
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.on(signal, () => {
    if (stopping) return;
    log(`${signal}: cleaning up`);
    void shutdown(code);
  });
}

async function main(): Promise<HostsResults> {
  const started = performance.now();
  await checkNetworkRights(PREFIX);

  const { folder, ended } = await claimRunFolder(PREFIX);
  undo.push({ what: 'the run folder', fn: () => folder.release() });
  const leftovers = [...ended, ...(await removeHostNetwork(PREFIX))];
  if (leftovers.length > 0) log(`removed what an earlier run left: ${leftovers.join(', ')}`);

  undo.push({ what: 'the namespaces and links', fn: () => removeHostNetwork(PREFIX) });
  const network = await createHostNetwork({ prefix: PREFIX, count: HOSTS, subnet: SUBNET, delayMs: LINK_DELAY_MS });
  const linkDelay = network.delay.ms === null ? `none (${network.delay.reason})` : `${network.delay.ms} ms each way on each end`;
  log(`${HOSTS} hosts on ${network.cidr} (${network.hosts.map((h) => `${h.name} ${h.address}`).join(', ')}); link delay: ${linkDelay}`);

  const postgres = await startPrivatePostgres({
    host: network.bridgeAddress,
    trustedNetwork: network.cidr,
    parentDir: folder.path,
    maxConnections: 200,
  });
  undo.push({ what: 'Postgres', fn: () => postgres.remove() });
  const redis = await startRedisCluster({
    host: network.bridgeAddress,
    masters: REDIS_MASTERS,
    replicasPerMaster: REPLICAS,
    parentDir: folder.path,
  });
  folder.record('redis-server', redis.pids());
  undo.push({ what: 'the Redis Cluster', fn: () => redis.stop() });
  log(`Postgres at ${network.bridgeAddress}:${postgres.port}, Redis Cluster at ${redis.nodesSetting}`);

  const fleetEnv = {
    DATABASE_URL: postgres.url('jobfleet_hosts'),
    REDIS_CLUSTER_NODES: redis.nodesSetting,
    QUEUE_SHARDS: `plan_chat=${SHARDS}`,
    BULLMQ_PREFIX: 'jfhosts',
    LOG_LEVEL: 'warn',
    AGENT: 'dry-run',
    DRY_RUN_DELAY_MS: String(JOB_DELAY_MS),
  };
  // Migrated from a host, over its link, as an operator would.
  await run('ip', ['netns', 'exec', network.hosts[0]!.name, process.execPath, path.resolve(options.cli), 'migrate'], {
    env: { PATH: process.env.PATH ?? '', ...fleetEnv },
  });

  const config = loadConfig(fleetEnv);
  const db = createDatabase({ connectionString: config.DATABASE_URL, poolMax: 4, applicationName: 'jobfleet-scale-hosts' });
  undo.push({ what: 'the database pool', fn: () => db.destroy() });
  const producer = createProducerConnection(redisTargetOf(config), logger);
  undo.push({ what: 'the producer connection', fn: () => producer.disconnect() });
  await new Promise((resolve) => producer.once('ready', resolve));
  const queues = createJobQueues({ connection: producer, layout: queueLayoutOf(config), logger });
  undo.push({ what: 'the queues', fn: () => queues.close() });

  const sweeper = spawnChild(options.cli, fleetEnv, ['sweeper'], { netns: network.hosts[0]!.name });
  undo.push({ what: 'the sweeper', fn: () => sweeper.stop() });
  await sweeper.line(/jobfleet sweeper running/);

  const ideas = await setupIdeas(db, JOBS * HOSTS);
  log(`set up ${n(ideas.length)} ideas`);
  const results: HostsResults = {
    date: new Date().toISOString(),
    command: ['npm run scale:hosts', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    machine: machine(),
    versions: await versions(db, producer),
    setup: {
      jobs: JOBS,
      workers_per_host: WORKERS_PER_HOST,
      concurrency: CONCURRENCY,
      dry_run_delay_ms: JOB_DELAY_MS,
      queue_shards: SHARDS,
      redis_masters: REDIS_MASTERS,
      redis_replicas_per_master: REPLICAS,
      subnet: network.cidr,
      link_delay: linkDelay,
    },
    runs: [],
    duration_seconds: 0,
  };
  const serverPids = { postgres: postgres.serverPid()!, redis: redis.pids(), sweeper: sweeper.pid };
  for (let hosts = 1; hosts <= HOSTS; hosts++) {
    const measured = await hostsRun(db, queues, network, fleetEnv, serverPids, hosts, ideas.slice((hosts - 1) * JOBS, hosts * JOBS));
    results.runs.push(measured);
    log(
      `${hosts} host(s): ${n(measured.jobs_per_second)} jobs/s (slots allow ${n(measured.ceiling_jobs_per_second)}); cores: Postgres ${measured.cores.postgres}, Redis ${measured.cores.redis}, workers ${measured.cores.workers}, sweeper ${measured.cores.sweeper}, other ${measured.cores.other}, machine ${measured.cores.machine}; binds: ${measured.binds}`,
    );
  }
  results.duration_seconds = round((performance.now() - started) / 1000, 1);
  return results;
}

/** `count` ideas of one product: PLAN_CHAT subjects, one job each (an idea's chat grows with every job). */
async function setupIdeas(db: Db, count: number): Promise<string[]> {
  const { id: product } = await db
    .insertInto('products')
    .values({ owner_id: 'scale-hosts', name: 'Scale' })
    .returning('id')
    .executeTakeFirstOrThrow();
  const ids: string[] = [];
  for (let start = 0; start < count; start += 1_000) {
    const values = Array.from({ length: Math.min(1_000, count - start) }, (_, i) => ({
      product_id: product,
      title: `Idea ${start + i}`,
      prompt_text: 'Scale idea.',
    }));
    ids.push(...(await db.transaction().execute((trx) => createEntities(trx, MACHINES.IDEA, values))).map((c) => c.row.id));
  }
  return ids;
}

/**
 * One run: the jobs are enqueued first, then `hosts` hosts' workers start; the figures cover the
 * time from when the last of them is up to the last job DONE, so that neither the enqueue nor a
 * worker's start-up is in them.
 */
async function hostsRun(
  db: Db,
  queues: JobQueues,
  network: HostNetwork,
  env: Record<string, string>,
  servers: { postgres: number; redis: number[]; sweeper: number },
  hosts: number,
  ideas: readonly string[],
): Promise<HostsRun> {
  const { since } = (await sql<{ since: Date }>`SELECT clock_timestamp() AS since`.execute(db)).rows[0]!;
  for (let offset = 0; offset < ideas.length; offset += 1_000) {
    const requests = ideas
      .slice(offset, offset + 1_000)
      .map((idea) => ({ kind: 'PLAN_CHAT' as const, subjectId: idea, payload: { message: 'scale' } }));
    await enqueueJobs({ db, queues, logger }, requests, { actorTokenId: null });
  }
  await sql`VACUUM ANALYZE`.execute(db);

  const workers: Child[] = [];
  const stopWorkers = () => Promise.all(workers.map((worker) => worker.stop()));
  undo.push({ what: `the workers of ${hosts} host(s)`, fn: stopWorkers });
  for (const host of network.hosts.slice(0, hosts)) {
    for (let i = 0; i < WORKERS_PER_HOST; i++) {
      workers.push(
        spawnChild(options.cli, env, ['worker', '--kinds', 'plan_chat', '--concurrency', String(CONCURRENCY)], { netns: host.name }),
      );
    }
  }
  await Promise.all(workers.map((worker) => worker.line(/jobfleet worker \S+ running/)));
  const cpu = () => ({
    at: performance.now(),
    postgres: cpuSecondsOfTree(servers.postgres),
    redis: cpuSecondsOf(servers.redis),
    workers: cpuSecondsOf(workers.map((worker) => worker.pid)),
    sweeper: cpuSecondsOf([servers.sweeper]),
    machine: machineCpuSeconds().busy,
  });
  const readyAt = new Date();
  const before = cpu();
  // The CPU is read when Redis has no job left, before the last DONE is confirmed in Postgres.
  let after = before;
  await untilDrained(db, queues, since, () => {
    after = cpu();
  });
  await stopWorkers();
  undo.pop();

  const { jobs, last } = (
    await sql<{ jobs: string; last: Date }>`
      SELECT count(*) AS jobs, max(finished_at) AS last FROM claude_jobs WHERE created_at >= ${since} AND finished_at > ${readyAt}
    `.execute(db)
  ).rows[0]!;
  const seconds = (last.getTime() - readyAt.getTime()) / 1000;
  const wall = (after.at - before.at) / 1000;
  const coresOf = (key: Exclude<keyof CoresUsed, 'other'>) => round((after[key] - before[key]) / wall, 2);
  const measured = {
    hosts,
    worker_processes: workers.length,
    jobs: Number(jobs),
    seconds: round(seconds, 2),
    jobs_per_second: Math.round(Number(jobs) / seconds),
    ceiling_jobs_per_second: Math.round((workers.length * CONCURRENCY * 1000) / Math.max(JOB_DELAY_MS, 1)),
    cores: {
      postgres: coresOf('postgres'),
      redis: coresOf('redis'),
      workers: coresOf('workers'),
      sweeper: coresOf('sweeper'),
      other: round(coresOf('machine') - coresOf('postgres') - coresOf('redis') - coresOf('workers') - coresOf('sweeper'), 2),
      machine: coresOf('machine'),
    },
  };
  return { ...measured, binds: whatBinds(measured, os.availableParallelism()) };
}

/**
 * Waits until the kind's queues hold nothing waiting or running (Redis answers that for almost
 * nothing), then until Postgres has no live job of the run, and checks that each one is DONE.
 * Asking Postgres ten times a second instead cost it a seq scan of the table each time once its
 * statistics said a backlog was queued: a quarter of a core, taken from the run it measured.
 */
async function untilDrained(db: Db, queues: JobQueues, since: Date, emptied: () => void, timeoutMs = 600_000) {
  const deadline = Date.now() + timeoutMs;
  const waitUntil = async (what: string, done: () => Promise<boolean>, intervalMs: number) => {
    while (!(await done())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  };
  await waitUntil(
    'the queues to empty',
    async () => {
      const counts = await Promise.all(
        queues.queuesOf('PLAN_CHAT').map((queue) => queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active')),
      );
      return counts.every((count) => Object.values(count).every((jobs) => jobs === 0));
    },
    100,
  );
  emptied();
  await waitUntil(
    "the run's jobs to finish",
    async () =>
      !(
        await sql<{ live: boolean }>`
          SELECT EXISTS (SELECT 1 FROM claude_jobs WHERE status IN ('QUEUED', 'CLAIMED', 'RUNNING') AND created_at >= ${since}) AS live
        `.execute(db)
      ).rows[0]!.live,
    500,
  );
  const unfinished = await sql<{ status: string; jobs: string }>`
    SELECT status, count(*) AS jobs FROM claude_jobs WHERE created_at >= ${since} AND status <> 'DONE' GROUP BY status
  `.execute(db);
  if (unfinished.rows.length > 0) {
    throw new Error(`jobs ended other than DONE: ${unfinished.rows.map((row) => `${row.jobs} ${row.status}`).join(', ')}`);
  }
}

const n = (value: number) => value.toLocaleString('en');

function machine() {
  let cpu = 'unknown';
  try {
    cpu = execFileSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], { encoding: 'utf8' }).trim();
  } catch {
    // not Linux: the script refused already
  }
  return { cores: os.availableParallelism(), cpu, memory_gb: Math.round(os.totalmem() / 2 ** 30) };
}

async function versions(db: Db, redis: RedisClient) {
  const postgres = (await sql<{ server_version: string }>`SHOW server_version`.execute(db)).rows[0]!.server_version;
  const info = String(await redis.info('server'));
  const { default: bullmq } = await import('bullmq/package.json', { with: { type: 'json' } });
  return { node: process.version, postgres, redis: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown', bullmq: bullmq.version };
}

try {
  const results = await main();
  process.stdout.write(`${JSON.stringify(results)}\n`);
  printHostsTable(results);
  if (!options['no-write']) {
    writeHostsSection(results, options.benchmarks);
    log(`wrote ${path.relative(process.cwd(), options.benchmarks) || options.benchmarks}`);
  }
  await shutdown(0);
} catch (error) {
  if (!stopping) {
    if (error instanceof NetworkRightsError) log(`cannot make hosts here: ${error.message}`);
    else log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
  await shutdown(error instanceof NetworkRightsError ? 2 : 1);
}
