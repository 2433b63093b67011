/**
 * `npm run bench`: jobfleet's throughput and latency, side by side with two baselines and two
 * durable peers measured in the same run on the same machine:
 * - raw BullMQ: a no-op worker (what jobfleet adds its durability to);
 * - naive: BullMQ plus three guarded single-row Postgres updates per job;
 * - graphile-worker and pg-boss, queues on Postgres alone, on no-op jobs, each in its defaults
 *   and in its documented high-throughput configuration (bench/peers.ts).
 * jobfleet runs PLAN_CHAT jobs through real `jobfleet worker` processes with the dry-run agent
 * (which answers at once), every transition and history row written. Prints one JSON line and a
 * table, and writes BENCHMARKS.md (unless --no-write).
 *
 * The throughput runs are repeated (--rounds, 3 by default), raw, naive, jobfleet and the peers in
 * turn, and each figure is the median of its rounds: this machine's speed drifts by a third within
 * minutes, so a ratio is taken between runs made one after the other.
 *
 * With --tracing, each round's jobfleet run is made twice, tracing off and on (alternating which
 * goes first, so drift shows): on, the workers export their spans over OTLP/HTTP (http/json) to
 * a sink in the bench process, which enqueues each call of 1,000 under a span of its own as the
 * API would under a request's, so every row carries a trace context. The bench process starts its
 * SDK before the first round and keeps it (carrying no active context, like a worker); its off
 * runs' rows carry none (`npm run bench -- --only jobfleet --tracing`).
 *
 * Options: --jobs N (20000), --rounds R (3), --processes P (1), --concurrency C (100),
 * --scaling-jobs N (4000), --latency-rate R (half the measured throughput), --latency-seconds S
 * (8), --http-calls N (8000 single calls), --http-batches N (20 calls of 1,000 jobs), --no-scaling,
 * --owners N (100), --owner-cap C (2), --pgboss-default-seconds S (10), --no-write, --benchmarks
 * FILE (BENCHMARKS.md), --cli FILE (the compiled build's CLI).
 *
 * The fair-shares phase runs three jobfleet runs back to back: one owner (as above), then the same
 * number of jobs spread over --owners owners (each owner's jobs take turns in the queue), then the
 * same with OWNER_MAX_RUNNING=--owner-cap (every claim judges owners' caps under their locks).
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { sql } from 'kysely';
import { createDatabase, type Db } from '../src/db/database.js';
import { maintenanceUrl } from '../src/db/ensure-database.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { withDefaultUser } from '../src/db/connection-string.js';
import { type EnqueueDeps, enqueueJobs, type EnqueueRequest } from '../src/jobs/enqueue-jobs.js';
import '../src/kinds/index.js'; // installs the kind handlers and cascades that enqueue and the door use
import { createLogger } from '../src/logger.js';
import { createJobQueues, KEEP_COMPLETED, KEEP_FAILED } from '../src/queues/job-queues.js';
import { createProducerConnection, serverConnection, workerConnection } from '../src/queues/redis-connections.js';
import { queueLayoutOf } from '../src/queues/queue-layout.js';
import { loadConfig } from '../src/config.js';
import { MACHINES } from '../src/machines/index.js';
import { createEntities } from '../src/transitions/index.js';
import { percentile, peakRss, round } from './measure.js';
import { type BenchResults, printTable, writeBenchmarks } from './report.js';
import { spawnChild, type Child, waitForDone } from './children.js';
import { createJsonPoster } from './http-client.js';
import { heldAgents } from './held.js';
import { makeGraphilePeer, makePgBossPeer, type PeerDeps, type PeerRun, peerVersions } from './peers.js';
import { startOtlpSink } from './otlp-sink.js';
import { rootTraceContext, startTracing, tracingSwitchOf } from '../src/telemetry/tracing.js';

/** The bench process's own SDK (with --tracing): it enqueues the traced runs' jobs inside spans. */
let closeTracing: (() => Promise<void>) | null = null;

const { values: options } = parseArgs({
  options: {
    jobs: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '3' },
    processes: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '100' },
    'scaling-jobs': { type: 'string', default: '4000' },
    /** Jobs a second offered in the latency phase (in whole jobs per 20 ms tick); by default half of the throughput just measured. */
    'latency-rate': { type: 'string' },
    'latency-seconds': { type: 'string', default: '8' },
    'http-calls': { type: 'string', default: '8000' },
    'http-batches': { type: 'string', default: '20' },
    'no-scaling': { type: 'boolean', default: false },
    /** Owners in the fair-shares phase (their jobs enqueued interleaved), and its OWNER_MAX_RUNNING run's cap. */
    owners: { type: 'string', default: '100' },
    'owner-cap': { type: 'string', default: '2' },
    /** pg-boss's defaults take 1 job every 2 seconds: that run counts the jobs done in this many seconds. */
    'pgboss-default-seconds': { type: 'string', default: '10' },
    'no-write': { type: 'boolean', default: false },
    /** Each jobfleet round twice: tracing off and on (see above). */
    tracing: { type: 'boolean', default: false },
    /** Where the results go (its results block is replaced). */
    benchmarks: { type: 'string', default: path.join(import.meta.dirname, '..', 'BENCHMARKS.md') },
    /** jobfleet's processes run the compiled build, as in production (`npm run bench` builds it first). */
    cli: { type: 'string', default: 'dist/src/cli/main.js' },
    /** For profiling: run only these phases (raw, naive, jobfleet, graphile, pgboss, latency, fairness, scaling, http, held); implies --no-write. */
    only: { type: 'string' },
    /** The held phase (only with --only held): agents held, over how many worker processes of what concurrency, measured how long. */
    held: { type: 'string', default: '10000' },
    'held-processes': { type: 'string', default: '10' },
    'held-concurrency': { type: 'string', default: '1000' },
    'held-seconds': { type: 'string', default: '30' },
  },
});
const ONLY = options.only ? new Set(options.only.split(',')) : null;
const runs = (phase: string) => ONLY === null || ONLY.has(phase);
// Every phase but held runs by default: held takes two minutes and measures no throughput.
const runsHeld = ONLY?.has('held') ?? false;
const SHARED_PHASES = ['raw', 'naive', 'jobfleet', 'latency', 'fairness', 'scaling', 'http'];
const JOBS = Number(options.jobs);
const ROUNDS = Number(options.rounds);
const PROCESSES = Number(options.processes);
const CONCURRENCY = Number(options.concurrency);
const SCALING_JOBS = Number(options['scaling-jobs']);
const LATENCY_RATE = options['latency-rate'] === undefined ? null : Number(options['latency-rate']);
const LATENCY_SECONDS = Number(options['latency-seconds']);
const HTTP_SINGLE = Number(options['http-calls']);
const HTTP_BULK_BATCHES = Number(options['http-batches']);
const OWNERS = Number(options.owners);
const OWNER_CAP = Number(options['owner-cap']);
const PGBOSS_DEFAULT_SECONDS = Number(options['pgboss-default-seconds']);
const HELD = Number(options.held);
const HELD_PROCESSES = Number(options['held-processes']);
const HELD_CONCURRENCY = Number(options['held-concurrency']);
const HELD_SECONDS = Number(options['held-seconds']);
const numeric = {
  jobs: JOBS,
  rounds: ROUNDS,
  processes: PROCESSES,
  concurrency: CONCURRENCY,
  'scaling-jobs': SCALING_JOBS,
  'latency-rate': LATENCY_RATE,
  'latency-seconds': LATENCY_SECONDS,
  'http-calls': HTTP_SINGLE,
  'http-batches': HTTP_BULK_BATCHES,
  owners: OWNERS,
  'owner-cap': OWNER_CAP,
  'pgboss-default-seconds': PGBOSS_DEFAULT_SECONDS,
  held: HELD,
  'held-processes': HELD_PROCESSES,
  'held-concurrency': HELD_CONCURRENCY,
  'held-seconds': HELD_SECONDS,
};
for (const [name, value] of Object.entries(numeric)) {
  if (value !== null && !(Number.isInteger(value) && value > 0)) throw new Error(`bench: --${name} must be a positive integer`);
}
if (HELD > HELD_PROCESSES * HELD_CONCURRENCY) throw new Error('bench: --held must not exceed --held-processes x --held-concurrency');
// The API process is new when the HTTP phase starts: its first requests run code not yet
// compiled (a 4,000-request run measured a fifth slower than one of 8,000). Each route is warmed
// up first, apart from the figures: a quarter as many single calls, a tenth as many batches.
const HTTP_SINGLE_WARMUP = Math.ceil(HTTP_SINGLE / 4);
const HTTP_BULK_WARMUP_BATCHES = Math.ceil(HTTP_BULK_BATCHES / 10);
const HTTP_IDEAS = HTTP_SINGLE_WARMUP + HTTP_SINGLE + (HTTP_BULK_WARMUP_BATCHES + HTTP_BULK_BATCHES) * 1_000;
const BUILT_CLI = options.cli;
const TRACING = options.tracing;
// A traced round needs ideas of its own beside the untraced one's.
const RUNS_PER_ROUND = TRACING ? 2 : 1;

const serverUrl = process.env.DATABASE_URL || 'postgres://127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const runId = `${process.pid}`;
const dbName = `jobfleet_bench_${runId}`;
const urlOf = (name: string) => {
  const url = new URL(withDefaultUser(serverUrl));
  url.pathname = `/${name}`;
  return url.toString();
};
const dbUrl = urlOf(dbName);
const prefix = `jfbench-${runId}`;
const logger = createLogger({ LOG_LEVEL: 'warn' });
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

const childEnv = (extra: Record<string, string> = {}) => ({
  DATABASE_URL: dbUrl,
  REDIS_URL: redisUrl,
  BULLMQ_PREFIX: prefix,
  LOG_LEVEL: 'warn',
  AGENT: 'dry-run',
  ...extra,
});

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: maintenanceUrl(serverUrl) });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function main() {
  const started = performance.now();
  await admin((client) => client.query(`CREATE DATABASE ${pg.escapeIdentifier(dbName)}`));
  // Each peer's database of its own, dropped with the bench's.
  const peerDatabases: string[] = [];
  const peerDeps: PeerDeps = {
    jobs: JOBS,
    pgBossDefaultSeconds: PGBOSS_DEFAULT_SECONDS,
    async createDatabase(suffix) {
      const name = `${dbName}_${suffix}`;
      await admin((client) => client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`));
      peerDatabases.push(name);
      return urlOf(name);
    },
  };
  const peers: { close(): Promise<void> }[] = [];
  const db = createDatabase({ connectionString: dbUrl, poolMax: 10, applicationName: 'jobfleet-bench' });
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
    const ideas = SHARED_PHASES.some(runs) ? await setupIdeas(db, Math.max(RUNS_PER_ROUND * ROUNDS * JOBS, SCALING_JOBS, HTTP_IDEAS)) : [];
    log(`set up ${ideas.length} ideas`);
    const heldIdeas = runsHeld ? await setupIdeas(db, HELD) : [];
    const ownersIdeas = runs('fairness') ? await setupIdeas(db, 2 * JOBS, OWNERS) : [];

    const results: BenchResults = {
      date: new Date().toISOString(),
      command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
      machine: machine(),
      versions: await versions(db),
      options: {
        jobs: JOBS,
        rounds: ROUNDS,
        processes: PROCESSES,
        concurrency: CONCURRENCY,
        scaling_jobs: SCALING_JOBS,
        latency_rate: LATENCY_RATE,
      },
    } as BenchResults;

    const sink = TRACING ? await startOtlpSink() : null;
    if (sink) {
      // The bench's own spans go to the sink too; its SDK reads these as a jobfleet process would.
      process.env.OTEL_EXPORTER_OTLP_ENDPOINT = sink.url;
      process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'http/json';
      // Like a worker, it names its spans' parents itself: no active context to carry (and tax).
      closeTracing = await startTracing(tracingSwitchOf(process.env), 'jobfleet-bench', { carriesContext: false });
      // Closed with the peers, at the end: the SDK flushes, then the sink stops.
      peers.push({
        async close() {
          await closeTracing?.();
          await sink.close();
        },
      });
    }
    const graphile = runs('graphile') ? await makeGraphilePeer(peerDeps) : null;
    if (graphile) peers.push(graphile);
    const pgBoss = runs('pgboss') ? await makePgBossPeer(peerDeps) : null;
    if (pgBoss) peers.push(pgBoss);

    // Raw, naive, jobfleet and the peers in turn, round after round: the figures are medians of the rounds.
    const rounds: {
      raw?: RawRun;
      naive?: NaiveRun;
      jobfleet?: JobfleetRun;
      jobfleet_traced?: JobfleetRun;
      graphile_worker?: PeerRun;
      graphile_worker_batched?: PeerRun;
      pg_boss?: PeerRun;
      pg_boss_default?: PeerRun;
    }[] = [];
    const throughputRounds = ['raw', 'naive', 'jobfleet', 'graphile', 'pgboss'].some(runs) ? ROUNDS : 0;
    for (let round = 1; round <= throughputRounds; round += 1) {
      const measured: (typeof rounds)[number] = {};
      if (runs('raw')) measured.raw = await rawBullmq(queues.queue('PLAN_CHAT').opts.connection as never, round);
      if (runs('naive')) measured.naive = await naiveBaseline(db, round);
      // Ideas of its own each round: the chat of an idea grows with every job, and so its prompt.
      if (runs('jobfleet')) {
        const first = (round - 1) * RUNS_PER_ROUND * JOBS;
        const untraced = () => jobfleetRun(db, queues, ideas.slice(first, first + JOBS), PROCESSES, CONCURRENCY);
        if (!sink) measured.jobfleet = await untraced();
        else {
          const traced = async () => {
            const before = sink.spans();
            const run = await jobfleetRun(db, queues, ideas.slice(first + JOBS, first + 2 * JOBS), PROCESSES, CONCURRENCY, {
              OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
              OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
            });
            // The workers flushed their spans at their graceful stop: every span is in.
            return { ...run, spans_received: sink.spans() - before };
          };
          if (round % 2 === 1) {
            measured.jobfleet = await untraced();
            measured.jobfleet_traced = await traced();
          } else {
            measured.jobfleet_traced = await traced();
            measured.jobfleet = await untraced();
          }
        }
      }
      if (graphile) {
        measured.graphile_worker = await graphile.run('graphile_worker', round);
        measured.graphile_worker_batched = await graphile.run('graphile_worker_batched', round);
      }
      if (pgBoss) {
        measured.pg_boss = await pgBoss.run('pg_boss', round);
        measured.pg_boss_default = await pgBoss.run('pg_boss_default', round);
      }
      rounds.push(measured);
      log(
        `round ${round}: ${[
          measured.raw && `raw BullMQ ${measured.raw.jobs_per_second}`,
          measured.naive && `naive ${measured.naive.jobs_per_second}`,
          measured.jobfleet &&
            `jobfleet ${measured.jobfleet.jobs_per_second} (p99 enqueue->running ${measured.jobfleet.enqueue_to_running_ms.p99} ms, rss ${measured.jobfleet.worker_peak_rss_mb} MB)`,
          measured.jobfleet_traced &&
            `jobfleet traced ${measured.jobfleet_traced.jobs_per_second} (p99 enqueue->running ${measured.jobfleet_traced.enqueue_to_running_ms.p99} ms, rss ${measured.jobfleet_traced.worker_peak_rss_mb} MB)`,
          measured.graphile_worker && `graphile-worker ${measured.graphile_worker.jobs_per_second}`,
          measured.graphile_worker_batched && `graphile-worker batched ${measured.graphile_worker_batched.jobs_per_second}`,
          measured.pg_boss && `pg-boss ${measured.pg_boss.jobs_per_second}`,
          measured.pg_boss_default && `pg-boss defaults ${measured.pg_boss_default.jobs_per_second}`,
        ]
          .filter(Boolean)
          .join(', ')} jobs/s`,
      );
    }
    if (runs('raw')) results.raw_bullmq = medianRun(rounds.map((r) => r.raw!));
    if (runs('jobfleet') && TRACING) results.tracing = tracingFigures(rounds.map((r) => ({ off: r.jobfleet!, on: r.jobfleet_traced! })));
    if (runs('naive')) results.naive = medianRun(rounds.map((r) => r.naive!));
    if (runs('jobfleet')) results.jobfleet = medianRun(rounds.map((r) => r.jobfleet!));
    if (graphile) {
      results.graphile_worker = medianRun(rounds.map((r) => r.graphile_worker!));
      results.graphile_worker_batched = medianRun(rounds.map((r) => r.graphile_worker_batched!));
    }
    if (pgBoss) {
      results.pg_boss = medianRun(rounds.map((r) => r.pg_boss!));
      results.pg_boss_default = medianRun(rounds.map((r) => r.pg_boss_default!));
    }
    if (runs('latency')) {
      const rate = LATENCY_RATE ?? Math.max(50, Math.round((results.jobfleet?.jobs_per_second ?? 2000) / 2));
      results.latency_at_half_load = await pacedRun(db, queues, ideas, rate);
      log(`latency at half load: p99 enqueue->running ${results.latency_at_half_load.enqueue_to_running_ms.p99} ms`);
    }
    if (runs('fairness')) {
      results.fair_shares = await fairShares(db, queues, ideas.slice(0, JOBS), ownersIdeas);
      log(
        `fair shares: one owner ${results.fair_shares.one_owner_jobs_per_second}, ${OWNERS} owners ${results.fair_shares.many_owners_jobs_per_second}, capped at ${OWNER_CAP} ${results.fair_shares.many_owners_capped_jobs_per_second} jobs/s`,
      );
    }
    if (runs('scaling') && !options['no-scaling']) {
      results.scaling = [];
      for (const processes of [1, 2, 4]) {
        for (const concurrency of [10, 50, 100]) {
          const run = await jobfleetRun(db, queues, ideas.slice(0, SCALING_JOBS), processes, concurrency);
          results.scaling.push({
            processes,
            concurrency,
            jobs: SCALING_JOBS,
            jobs_per_second: run.jobs_per_second,
            peak_rss_mb: run.worker_peak_rss_mb,
          });
          log(`scaling ${processes}x${concurrency}: ${run.jobs_per_second} jobs/s`);
        }
      }
    }
    if (runs('http')) {
      results.http = await httpEnqueue(ideas.slice(0, HTTP_IDEAS));
      log(`http: single ${results.http.single_jobs_per_second} jobs/s, bulk ${results.http.bulk_jobs_per_second} jobs/s`);
    }
    if (runsHeld) {
      Object.assign(results, await heldPhase(db, queues, heldIdeas));
      log(
        `held: ${results.held_agents} agents, ${results.held_row_writes_per_s} row writes/s (${results.held_job_row_writes_per_s} of jobs), ${results.held_wal_bytes_per_s} WAL bytes/s, CPU/s workers ${results.held_worker_cpu_per_s}, postgres ${results.held_postgres_cpu_per_s}`,
      );
    }
    if (ONLY) {
      process.stdout.write(`${JSON.stringify(results)}\n`);
      return;
    }

    // Each round's ratio is between runs made minutes apart at most; the figure is their median.
    const perRound = (other: 'raw' | 'naive' | 'graphile_worker' | 'graphile_worker_batched' | 'pg_boss') =>
      rounds.map((r) => r.jobfleet!.jobs_per_second / r[other]!.jobs_per_second);
    results.ratios = {
      jobfleet_vs_raw_bullmq: round(median(perRound('raw')), 3),
      jobfleet_vs_naive: round(median(perRound('naive')), 2),
      jobfleet_vs_graphile_worker: round(median(perRound('graphile_worker')), 3),
      jobfleet_vs_graphile_worker_batched: round(median(perRound('graphile_worker_batched')), 3),
      jobfleet_vs_pg_boss: round(median(perRound('pg_boss')), 3),
      rounds: rounds.map((_r, i) => ({
        raw: round(perRound('raw')[i]!, 3),
        naive: round(perRound('naive')[i]!, 2),
        graphile_worker: round(perRound('graphile_worker')[i]!, 3),
        graphile_worker_batched: round(perRound('graphile_worker_batched')[i]!, 3),
        pg_boss: round(perRound('pg_boss')[i]!, 3),
      })),
    };
    results.targets = {
      throughput_half_of_raw: results.ratios.jobfleet_vs_raw_bullmq >= 0.5,
      throughput_3x_naive: results.ratios.jobfleet_vs_naive >= 3,
      throughput_vs_graphile_worker_batched_1x: results.ratios.jobfleet_vs_graphile_worker_batched >= 1,
      throughput_vs_pg_boss_1_5x: results.ratios.jobfleet_vs_pg_boss >= 1.5,
      running_p99_under_50ms_at_half_load: results.latency_at_half_load.enqueue_to_running_ms.p99 <= 50,
      http_single_2000_per_s: results.http.single_jobs_per_second >= 2_000,
      http_bulk_15000_per_s: results.http.bulk_jobs_per_second >= 15_000,
      worker_rss_under_200mb: results.jobfleet.worker_peak_rss_mb < 200,
    };
    results.duration_seconds = round((performance.now() - started) / 1000, 1);

    process.stdout.write(`${JSON.stringify(results)}\n`);
    printTable(results);
    if (!options['no-write']) {
      writeBenchmarks(results, options.benchmarks);
      log(`wrote ${path.relative(process.cwd(), options.benchmarks) || options.benchmarks}`);
    }
  } finally {
    for (const peer of peers) await peer.close();
    await queues.close();
    await deleteKeys(producer);
    producer.disconnect();
    await db.destroy();
    for (const name of [dbName, ...peerDatabases]) {
      await admin((client) => client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`));
    }
  }
}

/**
 * `count` ideas: PLAN_CHAT subjects that the runs can share, of one product per owner (`owners`
 * of them), listed owner after owner in turn so that a run's enqueues mix every owner's jobs.
 */
async function setupIdeas(db: Db, count: number, owners = 1): Promise<string[]> {
  const products = await db
    .insertInto('products')
    .values(Array.from({ length: owners }, (_, i) => ({ owner_id: owners === 1 ? 'bench' : `bench-owner-${i}`, name: 'Bench' })))
    .returning('id')
    .execute();
  const ids: string[] = [];
  for (let start = 0; start < count; start += 1_000) {
    const created = await db.transaction().execute((trx) =>
      createEntities(
        trx,
        MACHINES.IDEA,
        Array.from({ length: Math.min(1_000, count - start) }, (_, i) => ({
          product_id: products[(start + i) % owners]!.id,
          title: `Idea ${start + i}`,
          prompt_text: 'Bench idea.',
        })),
      ),
    );
    ids.push(...created.map((c) => c.row.id));
  }
  // Their status does not matter to PLAN_CHAT; plan_md gives the prompt something to carry.
  await db
    .updateTable('ideas')
    .set({ plan_md: '---\npbis: []\n---' })
    .where(
      'product_id',
      'in',
      products.map((p) => p.id),
    )
    .execute();
  return ids;
}

async function addInBatches(queue: Queue, ids: readonly string[]) {
  for (let start = 0; start < ids.length; start += 1_000) {
    await queue.addBulk(ids.slice(start, start + 1_000).map((id) => ({ name: 'job', data: { id }, opts: { jobId: id } })));
  }
}

type RawRun = Awaited<ReturnType<typeof rawBullmq>>;
type NaiveRun = Awaited<ReturnType<typeof naiveBaseline>>;
type JobfleetRun = Awaited<ReturnType<typeof jobfleetRun>>;

/** The median of the rounds (of an even number, the lower of the middle two: a round that ran). */
function medianBy<T>(items: readonly T[], value: (item: T) => number): T {
  return [...items].sort((a, b) => value(a) - value(b))[Math.floor((items.length - 1) / 2)]!;
}
const median = (values: readonly number[]) => medianBy(values, (v) => v);

/** The run whose throughput is the median of the rounds, with every round's figure beside it. */
function medianRun<T extends { jobs_per_second: number }>(runsOf: readonly T[]): T & { rounds_jobs_per_second: number[] } {
  return { ...medianBy(runsOf, (run) => run.jobs_per_second), rounds_jobs_per_second: runsOf.map((run) => run.jobs_per_second) };
}

async function rawBullmq(connection: never, roundNo: number) {
  const name = `raw_baseline_${roundNo}`;
  const queue = new Queue(name, { connection, prefix, defaultJobOptions: { removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED } });
  const worker = spawnChild('bench/raw-worker.ts', {
    ...childEnv(),
    BENCH_PREFIX: prefix,
    BENCH_QUEUE: name,
    BENCH_JOBS: String(JOBS),
    BENCH_CONCURRENCY: String(CONCURRENCY),
  });
  await worker.line(/^ready$/m);
  const ids = Array.from({ length: JOBS }, (_, i) => `raw-${runId}-${roundNo}-${i}`);
  const start = Date.now();
  await addInBatches(queue, ids);
  const added = Date.now();
  const done = await waitForDone(worker);
  await worker.stop();
  await queue.close();
  return {
    jobs: JOBS,
    seconds: round((done.at - start) / 1000, 2),
    jobs_per_second: Math.round(JOBS / ((done.at - start) / 1000)),
    add_bulk_jobs_per_second: Math.round(JOBS / ((added - start) / 1000)),
    worker_peak_rss_mb: round(done.rss / 2 ** 20),
  };
}

async function naiveBaseline(db: Db, roundNo: number) {
  const name = `naive_baseline_${roundNo}`;
  await sql`DROP TABLE IF EXISTS naive_jobs`.execute(db);
  await sql`CREATE TABLE naive_jobs (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), status text NOT NULL DEFAULT 'QUEUED')`.execute(db);
  const queue = new Queue(name, {
    connection: workerConnection({ url: redisUrl, clusterNodes: null }, logger).connection,
    prefix,
    defaultJobOptions: { removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED },
  });
  const worker = spawnChild('bench/naive-worker.ts', {
    ...childEnv(),
    BENCH_PREFIX: prefix,
    BENCH_QUEUE: name,
    BENCH_JOBS: String(JOBS),
    BENCH_CONCURRENCY: String(CONCURRENCY),
    BENCH_POOL: '10',
  });
  await worker.line(/^ready$/m);
  const start = Date.now();
  for (let offset = 0; offset < JOBS; offset += 1_000) {
    const rows = await sql<{
      id: string;
    }>`INSERT INTO naive_jobs (status) SELECT 'QUEUED' FROM generate_series(1, ${Math.min(1_000, JOBS - offset)}) RETURNING id`.execute(db);
    await addInBatches(
      queue,
      rows.rows.map((row) => row.id),
    );
  }
  const done = await waitForDone(worker);
  await worker.stop();
  await queue.close();
  return {
    jobs: JOBS,
    seconds: round((done.at - start) / 1000, 2),
    jobs_per_second: Math.round(JOBS / ((done.at - start) / 1000)),
    worker_peak_rss_mb: round(done.rss / 2 ** 20),
  };
}

async function startWorkers(processes: number, concurrency: number, env: Record<string, string> = {}): Promise<Child[]> {
  const workers = Array.from({ length: processes }, () =>
    spawnChild(BUILT_CLI, childEnv({ WORKER_CONCURRENCY: String(concurrency), ...env }), ['worker', '--kinds', 'plan_chat']),
  );
  await Promise.all(workers.map((worker) => worker.line(/jobfleet worker \S+ running/)));
  return workers;
}

/** Held agents: see bench/held.ts. Workers and sweeper keep their default timings unless the bench's environment sets them. */
function heldPhase(db: Db, queues: ReturnType<typeof createJobQueues>, ideas: readonly string[]) {
  const timings = Object.fromEntries(
    ['HEARTBEAT_MS', 'LEASE_MS', 'SWEEP_INTERVAL_MS'].flatMap((name) => (process.env[name] ? [[name, process.env[name]!]] : [])),
  );
  return heldAgents(
    {
      db,
      enqueue: { db, queues, logger },
      startWorkers,
      async startSweeper(env) {
        const sweeper = spawnChild(BUILT_CLI, childEnv(env), ['sweeper']);
        await sweeper.line(/jobfleet sweeper running/);
        return sweeper;
      },
      log,
    },
    ideas,
    { agents: HELD, processes: HELD_PROCESSES, concurrency: HELD_CONCURRENCY, seconds: HELD_SECONDS, timings },
  );
}

const requestsFor = (ideas: readonly string[]): EnqueueRequest[] =>
  ideas.map((idea) => ({ kind: 'PLAN_CHAT', subjectId: idea, payload: { message: 'bench' } }));

/** Enqueues a job per idea as fast as one producer can and measures the fleet until every one is DONE. */
async function jobfleetRun(
  db: Db,
  queues: ReturnType<typeof createJobQueues>,
  ideas: readonly string[],
  processes: number,
  concurrency: number,
  env: Record<string, string> = {},
) {
  const workers = await startWorkers(processes, concurrency, env);
  const deps = { db, queues, logger };
  const { since } = (await sql<{ since: Date }>`SELECT clock_timestamp() AS since`.execute(db)).rows[0]!;
  const start = Date.now();
  // A traced run's enqueues, as the API's inside a request: each call of 1,000 under a span of its own.
  const traced = env.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined;
  for (let offset = 0; offset < ideas.length; offset += 1_000) {
    const requests = requestsFor(ideas.slice(offset, offset + 1_000));
    const trace = traced ? rootTraceContext('bench enqueue', { 'jobfleet.job.count': requests.length }) : null;
    await enqueueJobs(deps, trace ? requests.map((request) => ({ ...request, trace })) : requests, { actorTokenId: null });
  }
  const enqueued = Date.now();
  await untilSettled(db, since);
  const stats = (
    await sql<{ last: Date; jobs: string; running: number[]; done: number[] }>`
      SELECT max(finished_at) AS last, count(*) AS jobs,
        percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - created_at) * 1000) AS running,
        percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at) * 1000) AS done
      FROM claude_jobs WHERE created_at >= ${since}
    `.execute(db)
  ).rows[0]!;
  const { traced: tracedRows } = (
    await sql<{
      traced: string;
    }>`SELECT count(*) AS traced FROM claude_jobs WHERE created_at >= ${since} AND trace_context IS NOT NULL`.execute(db)
  ).rows[0]!;
  const history = (
    await sql<{
      rows: string;
    }>`SELECT count(*) AS rows FROM transitions WHERE created_at >= ${since} AND entity_type = 'CLAUDE_JOB'`.execute(db)
  ).rows[0]!;
  const rss = Math.max(...workers.map((worker) => peakRss(worker.pid)));
  await Promise.all(workers.map((worker) => worker.stop()));
  const seconds = (stats.last.getTime() - start) / 1000;
  return {
    jobs: Number(stats.jobs),
    processes,
    concurrency,
    seconds: round(seconds, 2),
    jobs_per_second: Math.round(Number(stats.jobs) / seconds),
    enqueue_jobs_per_second: Math.round(ideas.length / ((enqueued - start) / 1000)),
    history_rows: Number(history.rows),
    enqueue_to_running_ms: quantiles(stats.running),
    enqueue_to_done_ms: quantiles(stats.done),
    worker_peak_rss_mb: round(rss / 2 ** 20),
    /** Rows that carry a trace context: all of a traced run's, none of an untraced one's. */
    traced_jobs: Number(tracedRows),
  };
}

/** Tracing off and on, round by round, and the medians of each and of their ratios. */
function tracingFigures(pairs: readonly { off: JobfleetRun; on: JobfleetRun & { spans_received?: number } }[]) {
  const ratios = pairs.map(({ off, on }) => on.jobs_per_second / off.jobs_per_second);
  const side = (run: JobfleetRun & { spans_received?: number }) => ({
    jobs_per_second: run.jobs_per_second,
    enqueue_jobs_per_second: run.enqueue_jobs_per_second,
    enqueue_to_running_p99_ms: run.enqueue_to_running_ms.p99,
    enqueue_to_done_p99_ms: run.enqueue_to_done_ms.p99,
    worker_peak_rss_mb: run.worker_peak_rss_mb,
    traced_jobs: run.traced_jobs,
    spans_received: run.spans_received ?? 0,
  });
  return {
    jobs: JOBS,
    processes: PROCESSES,
    concurrency: CONCURRENCY,
    off_jobs_per_second: median(pairs.map((pair) => pair.off.jobs_per_second)),
    on_jobs_per_second: median(pairs.map((pair) => pair.on.jobs_per_second)),
    on_vs_off: round(median(ratios), 3),
    rounds: pairs.map(({ off, on }, index) => ({
      first: index % 2 === 0 ? ('off' as const) : ('on' as const),
      off: side(off),
      on: side(on),
      on_vs_off: round(ratios[index]!, 3),
    })),
  };
}

/**
 * What fair shares cost a job: one owner, many owners taking turns, and many owners under a cap,
 * run back to back (their ratios are between runs minutes apart at most). The many-owner runs use
 * ideas of their own, half each.
 */
async function fairShares(db: Db, queues: ReturnType<typeof createJobQueues>, oneOwner: readonly string[], manyOwners: readonly string[]) {
  const single = await jobfleetRun(db, queues, oneOwner, PROCESSES, CONCURRENCY);
  const many = await jobfleetRun(db, queues, manyOwners.slice(0, JOBS), PROCESSES, CONCURRENCY);
  const capped = await jobfleetRun(db, queues, manyOwners.slice(JOBS, 2 * JOBS), PROCESSES, CONCURRENCY, {
    OWNER_MAX_RUNNING: String(OWNER_CAP),
  });
  return {
    jobs: JOBS,
    owners: OWNERS,
    owner_max_running: OWNER_CAP,
    one_owner_jobs_per_second: single.jobs_per_second,
    many_owners_jobs_per_second: many.jobs_per_second,
    many_owners_capped_jobs_per_second: capped.jobs_per_second,
    many_owners_vs_one: round(many.jobs_per_second / single.jobs_per_second, 3),
    capped_vs_one: round(capped.jobs_per_second / single.jobs_per_second, 3),
    enqueue_to_running_p99_ms: {
      one_owner: single.enqueue_to_running_ms.p99,
      many_owners: many.enqueue_to_running_ms.p99,
      capped: capped.enqueue_to_running_ms.p99,
    },
  };
}

function quantiles([p50, p95, p99]: number[]) {
  return { p50: round(p50 ?? 0, 1), p95: round(p95 ?? 0, 1), p99: round(p99 ?? 0, 1) };
}

/**
 * Offers `rate` jobs a second and measures how soon each one starts. A fleet that has just
 * started is cold: its code is not yet compiled, its pool opens connections and prepares its
 * statements, Postgres's new backends fill their caches. At half load that start-up backlog
 * took two seconds to drain and held every job of it for 150-250 ms, which is not what a
 * running fleet does. So the same load is first offered for WARMUP_MS and waited out; the
 * figures are of the MEASURE_MS that follow, and the warm-up's p99 is reported beside them.
 */
async function pacedRun(db: Db, queues: ReturnType<typeof createJobQueues>, shared: readonly string[], rate: number) {
  const perTick = Math.max(1, Math.round((rate * TICK_MS) / 1000));
  // One job per idea: a faster machine or a higher --latency-rate than the shared ideas serve gets more.
  const needed = (perTick * (WARMUP_MS + MEASURE_MS)) / TICK_MS;
  const ideas = shared.length >= needed ? shared : [...shared, ...(await setupIdeas(db, needed - shared.length))];
  const workers = await startWorkers(PROCESSES, CONCURRENCY);
  const deps = { db, queues, logger };
  const warmup = await offer(deps, ideas, perTick, WARMUP_MS);
  const measured = await offer(deps, ideas.slice(warmup.jobs), perTick, MEASURE_MS);
  const [warm, latencies] = await Promise.all([latenciesSince(db, warmup.since, measured.since), latenciesSince(db, measured.since)]);
  await Promise.all(workers.map((worker) => worker.stop()));
  if (latencies.running.length === 0) throw new Error('bench: the latency phase measured no jobs');
  return {
    offered_jobs_per_second: Math.round((perTick * 1000) / TICK_MS),
    jobs: latencies.running.length,
    enqueue_to_running_ms: quantilesOf(latencies.running),
    enqueue_to_done_ms: quantilesOf(latencies.done),
    warmup: { seconds: WARMUP_MS / 1000, jobs: warm.running.length, enqueue_to_running_p99_ms: quantilesOf(warm.running).p99 },
  };
}

// One enqueue call per tick. Shorter ticks measured worse, not better (5 ms: p99 98-157 ms where
// 20 ms gave 49-69): each call is a transaction whose fixed cost the machine pays 4 times as often.
const TICK_MS = 20;
const WARMUP_MS = 2_000;
// Eight seconds, not four: p99 is the slowest 1 in 100, and over four seconds at half load that
// was the jobs of two or three ticks, so one slow moment moved the figure by tens of ms.
const MEASURE_MS = LATENCY_SECONDS * 1_000;

/** Enqueues `perTick` jobs every TICK_MS for `durationMs` (fewer if the ideas run out), then waits until they are all DONE. */
async function offer(deps: EnqueueDeps, ideas: readonly string[], perTick: number, durationMs: number) {
  const ticks = Math.min(Math.floor(ideas.length / perTick), Math.round(durationMs / TICK_MS));
  const { since } = (await sql<{ since: Date }>`SELECT clock_timestamp() AS since`.execute(deps.db)).rows[0]!;
  const start = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let tick = 0; tick < ticks; tick += 1) {
    const wait = start + tick * TICK_MS - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(enqueueJobs(deps, requestsFor(ideas.slice(tick * perTick, (tick + 1) * perTick)), { actorTokenId: null }));
  }
  await Promise.all(pending);
  await untilSettled(deps.db, since);
  return { since, jobs: ticks * perTick };
}

/** Enqueue -> RUNNING and enqueue -> DONE of the jobs created in [since, until), sorted. */
async function latenciesSince(db: Db, since: Date, until?: Date) {
  const { rows } = await sql<{ running: number; done: number }>`
    SELECT extract(epoch FROM started_at - created_at) * 1000 AS running, extract(epoch FROM finished_at - created_at) * 1000 AS done
    FROM claude_jobs WHERE created_at >= ${since} ${until ? sql`AND created_at < ${until}` : sql``}
  `.execute(db);
  const sorted = (values: number[]) => values.sort((a, b) => a - b);
  return { running: sorted(rows.map((row) => Number(row.running))), done: sorted(rows.map((row) => Number(row.done))) };
}

function quantilesOf(sorted: readonly number[]) {
  return { p50: round(percentile(sorted, 50), 1), p95: round(percentile(sorted, 95), 1), p99: round(percentile(sorted, 99), 1) };
}

/**
 * POST /api/v1/jobs from 64 concurrent clients, then POST /api/v1/jobs/batch from 4, against a
 * `jobfleet api` process; each route gets a warm-up apart from the figures. Every job names an
 * idea of its own, so nothing is superseded.
 */
async function httpEnqueue(ideas: readonly string[]) {
  const token = 'bench-admin-token-0123456789';
  const api = spawnChild(BUILT_CLI, childEnv({ PORT: '0', ADMIN_TOKEN: token, BODY_LIMIT_BYTES: String(4 * 2 ** 20) }), ['api']);
  const [, base] = await api.line(/listening on (http:\/\/\S+)\/api\/v1/);
  const client = createJsonPoster(base!, { authorization: `Bearer ${token}` }, 64);
  const post = async (path: string, body: unknown) => {
    const response = await client.post(path, body);
    if (response.status !== 202) throw new Error(`${path} answered ${response.status}: ${response.text}`);
  };
  const rest = [...ideas];
  const take = (count: number) => rest.splice(0, count);

  /** Seconds for `clients` callers to post every item, one call per item. */
  const timed = async <T>(items: T[], clients: number, send: (item: T) => Promise<void>) => {
    let next = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < items.length) await send(items[next++]!);
      }),
    );
    return (performance.now() - start) / 1000;
  };
  const single = (idea: string) => post('/api/v1/jobs', { kind: 'plan_chat', idea_id: idea, payload: { message: 'single' } });
  const batch = (group: string[]) =>
    post('/api/v1/jobs/batch', { jobs: group.map((idea) => ({ kind: 'plan_chat', idea_id: idea, payload: { message: 'bulk' } })) });
  const batches = (count: number) => Array.from({ length: count }, () => take(1_000));

  await timed(take(HTTP_SINGLE_WARMUP), 64, single);
  const singleSeconds = await timed(take(HTTP_SINGLE), 64, single);
  await timed(batches(HTTP_BULK_WARMUP_BATCHES), 4, batch);
  const bulkSeconds = await timed(batches(HTTP_BULK_BATCHES), 4, batch);
  client.close();
  await api.stop();
  return {
    single_requests: HTTP_SINGLE,
    single_concurrency: 64,
    single_warmup_requests: HTTP_SINGLE_WARMUP,
    single_jobs_per_second: Math.round(HTTP_SINGLE / singleSeconds),
    bulk_jobs: HTTP_BULK_BATCHES * 1_000,
    bulk_batch_size: 1_000,
    bulk_concurrency: 4,
    bulk_warmup_jobs: HTTP_BULK_WARMUP_BATCHES * 1_000,
    bulk_jobs_per_second: Math.round((HTTP_BULK_BATCHES * 1_000) / bulkSeconds),
  };
}

/**
 * Waits until no job created since `since` is live, then checks that every one is DONE. The
 * figures come from the rows' timestamps, not from when this notices, so it can look rarely;
 * and it asks only the two partial indexes of live jobs. A `count(*)` over the table every 25 ms
 * cost Postgres 13 ms a call, a fifth of its CPU during the run it was measuring.
 */
async function untilSettled(db: Db, since: Date, timeoutMs = 300_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { live } = (
      await sql<{ live: boolean }>`
        SELECT EXISTS (SELECT 1 FROM claude_jobs WHERE status = 'QUEUED' AND created_at >= ${since})
            OR EXISTS (SELECT 1 FROM claude_jobs WHERE status IN ('CLAIMED', 'RUNNING') AND created_at >= ${since}) AS live
      `.execute(db)
    ).rows[0]!;
    if (!live) break;
    if (Date.now() > deadline) throw new Error('bench: timed out waiting for the jobs to finish');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const unfinished = await sql<{ status: string; jobs: string }>`
    SELECT status, count(*) AS jobs FROM claude_jobs WHERE created_at >= ${since} AND status <> 'DONE' GROUP BY status
  `.execute(db);
  if (unfinished.rows.length > 0) {
    throw new Error(`bench: jobs ended other than DONE: ${unfinished.rows.map((row) => `${row.jobs} ${row.status}`).join(', ')}`);
  }
}

function machine() {
  const cpu = (() => {
    try {
      return execFileSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], { encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  })();
  return {
    cores: os.availableParallelism(),
    cpu,
    memory_gb: Math.round(Number(execFileSync('sh', ['-c', "awk '/MemTotal/ {print $2}' /proc/meminfo"], { encoding: 'utf8' })) / 2 ** 20),
  };
}

async function versions(db: Db) {
  const postgres = (await sql<{ server_version: string }>`SHOW server_version`.execute(db)).rows[0]!.server_version;
  const redis = new Redis(redisUrl, { lazyConnect: true });
  await redis.connect();
  const info = await redis.info('server');
  redis.disconnect();
  const { default: bullmq } = await import('bullmq/package.json', { with: { type: 'json' } });
  return {
    node: process.version,
    postgres,
    redis: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown',
    bullmq: bullmq.version,
    ...(await peerVersions()),
  };
}

async function deleteKeys(redis: Redis) {
  const stream = redis.scanStream({ match: `${prefix}:*`, count: 1000 });
  for await (const keys of stream as AsyncIterable<string[]>) if (keys.length) await redis.unlink(...keys);
}

await main();
process.exit(0);
