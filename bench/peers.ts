/**
 * The durable peers in the bench's rounds: graphile-worker and pg-boss, queues that keep their
 * jobs in Postgres alone, each measured on no-op jobs like raw BullMQ. Each peer has a database
 * of its own (its schema installed before any clock runs), its jobs are enqueued 1,000 per call
 * through its own bulk API, like jobfleet's, and its worker runs in a child process of its own.
 * The clock runs from the first enqueue to the last completion the queue records.
 *
 * Versions: the newest that run on Node 20 (graphile-worker 0.18 and pg-boss 11 need Node 22).
 */
import { makeWorkerUtils, runMigrations, type WorkerUtils } from 'graphile-worker';
import PgBoss from 'pg-boss';
import { type Child, spawnChild, waitForDone } from './children.js';
import { peakRss, round } from './measure.js';

/** Concurrency of the graphile-worker runs (a person's measurements on this machine used 20). */
const GRAPHILE_CONCURRENCY = 20;

/** How a graphile-worker runner is set up: its preset's `worker` options. */
export interface GraphileConfig {
  concurrent_jobs: number;
  max_pool_size: number;
  /** -1: no local queue (each worker fetches its own job). */
  local_queue_size: number;
  /** -1: every completion is its own statement. */
  complete_job_batch_delay: number;
  fail_job_batch_delay: number;
}

export const GRAPHILE_CONFIGS = {
  // graphile-worker's defaults, at concurrency 20.
  graphile_worker: {
    concurrent_jobs: GRAPHILE_CONCURRENCY,
    max_pool_size: 10,
    local_queue_size: -1,
    complete_job_batch_delay: -1,
    fail_job_batch_delay: -1,
  },
  // Its documented high-throughput configuration (the "Performance" page: a pool one larger than
  // the concurrency, a local queue of 500, completions and failures batched with delay 0).
  graphile_worker_batched: {
    concurrent_jobs: GRAPHILE_CONCURRENCY,
    max_pool_size: GRAPHILE_CONCURRENCY + 1,
    local_queue_size: 500,
    complete_job_batch_delay: 0,
    fail_job_batch_delay: 0,
  },
} as const satisfies Record<string, GraphileConfig>;

/** How a pg-boss worker is set up: how many `work()` loops, each with which options (null: pg-boss's default). */
export interface PgBossConfig {
  work_loops: number;
  /** null: 1 job per fetch. */
  batch_size: number | null;
  /** null: a fetch every 2 seconds. */
  polling_interval_seconds: number | null;
  /**
   * A run that would take hours is measured over this many seconds from the first enqueue
   * instead: the jobs completed in them, per second.
   */
  time_box_seconds: number | null;
}

export const PG_BOSS_CONFIGS = {
  // The best setup found for it: concurrency comes from several work() loops, each fetching a
  // batch, polling at the shortest interval it accepts (0.5 s; a loop sleeps out the rest of its
  // interval after each fetch, jobs or not, so loops x batch / 0.5 s is a ceiling: 4 x 250 sat at
  // 2,000 jobs/s, 4 x 1,000 measured 3,048 to 3,864).
  pg_boss: { work_loops: 4, batch_size: 1000, polling_interval_seconds: 0.5, time_box_seconds: null },
  // Its defaults: one work() loop takes 1 job every 2 seconds (documented), so 20,000 jobs would
  // take 11 hours; the run is time-boxed (see --pgboss-default-seconds).
  pg_boss_default: { work_loops: 1, batch_size: null, polling_interval_seconds: null, time_box_seconds: 10 },
} as const satisfies Record<string, PgBossConfig>;

export type GraphileRunName = keyof typeof GRAPHILE_CONFIGS;
export type PgBossRunName = keyof typeof PG_BOSS_CONFIGS;

export interface PeerRun {
  /** Jobs completed within the clock (all of them, unless the run is time-boxed). */
  jobs: number;
  jobs_enqueued: number;
  seconds: number;
  jobs_per_second: number;
  /** Jobs enqueued per second, from the first call to the last one's return. */
  enqueue_jobs_per_second: number;
  worker_peak_rss_mb: number;
  config: (GraphileConfig | PgBossConfig) & { peer: string; version: string };
}

export interface PeerDeps {
  jobs: number;
  /** Creates an empty database of the given name's suffix and answers its URL (the caller drops it). */
  createDatabase(suffix: string): Promise<string>;
  /** Seconds of the time-boxed pg_boss_default run. */
  pgBossDefaultSeconds: number;
}

export async function peerVersions() {
  const { default: graphile } = await import('graphile-worker/package.json', { with: { type: 'json' } });
  const { default: pgBoss } = await import('pg-boss/package.json', { with: { type: 'json' } });
  return { graphile_worker: graphile.version, pg_boss: pgBoss.version };
}

/** graphile-worker's runs: its schema is installed once, and every run enqueues with addJobs. */
export async function makeGraphilePeer(deps: PeerDeps) {
  const url = await deps.createDatabase('graphile_worker');
  await runMigrations({ connectionString: url });
  const utils: WorkerUtils = await makeWorkerUtils({ connectionString: url });
  const { graphile_worker: version } = await peerVersions();
  return {
    async run(name: GraphileRunName, roundNo: number): Promise<PeerRun> {
      const config = GRAPHILE_CONFIGS[name];
      // A task of its own per run: a run sees only its own jobs.
      const task = `noop_${name}_${roundNo}`;
      const worker = spawnChild('bench/graphile-worker-peer.ts', {
        DATABASE_URL: url,
        BENCH_TASK: task,
        BENCH_JOBS: String(deps.jobs),
        BENCH_CONFIG: JSON.stringify(config),
      });
      await worker.line(/^ready$/m);
      const start = Date.now();
      await inThousands(deps.jobs, (count, offset) =>
        utils.addJobs(Array.from({ length: count }, (_, i) => ({ identifier: task, payload: { i: offset + i } }))),
      );
      const clock = { start, enqueued: Date.now() };
      const done = await waitForDone(worker);
      await worker.stop();
      return finished(deps.jobs, clock, done, { peer: 'graphile-worker', version, ...config });
    },
    close: async () => {
      await utils.release();
    },
  };
}

/** pg-boss's runs: its schema is installed once; every run has a queue of its own, filled with insert(). */
export async function makePgBossPeer(deps: PeerDeps) {
  const url = await deps.createDatabase('pg_boss');
  // The enqueuer only: maintenance and cron run in the worker's instance, with its defaults.
  const boss = new PgBoss({ connectionString: url, supervise: false, schedule: false });
  boss.on('error', () => {});
  await boss.start();
  const { pg_boss: version } = await peerVersions();
  return {
    async run(name: PgBossRunName, roundNo: number): Promise<PeerRun> {
      const config = { ...PG_BOSS_CONFIGS[name] } as PgBossConfig;
      if (config.time_box_seconds !== null) config.time_box_seconds = deps.pgBossDefaultSeconds;
      const queue = `noop_${name}_${roundNo}`;
      await boss.createQueue(queue);
      const worker = spawnChild('bench/pg-boss-peer.ts', {
        DATABASE_URL: url,
        BENCH_QUEUE: queue,
        BENCH_JOBS: String(deps.jobs),
        BENCH_CONFIG: JSON.stringify(config),
      });
      await worker.line(/^ready$/m);
      const start = Date.now();
      await inThousands(deps.jobs, (count, offset) =>
        boss.insert(Array.from({ length: count }, (_, i) => ({ name: queue, data: { i: offset + i } }))),
      );
      const clock = { start, enqueued: Date.now() };
      const described = { peer: 'pg-boss', version, ...config };
      // The queue and its rows stay (pg-boss keeps each queue's jobs in a partition of their own).
      if (config.time_box_seconds !== null) return timeBoxed(boss, queue, worker, clock, config.time_box_seconds, deps.jobs, described);
      const done = await waitForDone(worker);
      await worker.stop();
      return finished(deps.jobs, clock, done, described);
    },
    close: () => boss.stop({ graceful: false, wait: true }),
  };
}

/** When the first enqueue call started and the last one returned (epoch ms). */
type Clock = { start: number; enqueued: number };

const enqueueRate = (jobs: number, { start, enqueued }: Clock) => Math.round(jobs / ((enqueued - start) / 1000));

function finished(jobs: number, clock: Clock, done: { at: number; rss: number }, config: PeerRun['config']): PeerRun {
  const seconds = (done.at - clock.start) / 1000;
  return {
    jobs,
    jobs_enqueued: jobs,
    seconds: round(seconds, 2),
    jobs_per_second: Math.round(jobs / seconds),
    enqueue_jobs_per_second: enqueueRate(jobs, clock),
    worker_peak_rss_mb: round(done.rss / 2 ** 20),
    config,
  };
}

/** The jobs the worker completed within `seconds` of the first enqueue, per second. */
async function timeBoxed(
  boss: PgBoss,
  queue: string,
  worker: Child,
  clock: Clock,
  seconds: number,
  enqueued: number,
  config: PeerRun['config'],
) {
  const wait = clock.start + seconds * 1000 - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  const rss = peakRss(worker.pid);
  await worker.stop();
  const { rows } = await boss
    .getDb()
    .executeSql(
      "SELECT count(*) AS jobs FROM pgboss.job WHERE name = $1 AND state = 'completed' AND completed_on <= to_timestamp($2 / 1000.0)",
      [queue, clock.start + seconds * 1000],
    );
  const jobs = Number(rows[0].jobs);
  return {
    jobs,
    jobs_enqueued: enqueued,
    seconds,
    jobs_per_second: round(jobs / seconds, 2),
    enqueue_jobs_per_second: enqueueRate(enqueued, clock),
    worker_peak_rss_mb: round(rss / 2 ** 20),
    config,
  };
}

/** Enqueues `total` jobs 1,000 per call, as jobfleet's runs do, one call after another. */
async function inThousands(total: number, add: (count: number, offset: number) => Promise<unknown>): Promise<void> {
  for (let offset = 0; offset < total; offset += 1_000) await add(Math.min(1_000, total - offset), offset);
}
