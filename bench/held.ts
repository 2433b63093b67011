/**
 * The held phase (`npm run bench -- --only held`): what holding many long-running agents costs
 * while they run. Worker processes take one dry-run job per slot (each agent sleeps far longer than
 * the measurement), a sweeper sweeps as in production, and once every job is RUNNING the fleet is
 * left alone for a while and measured from outside:
 * - row writes in the bench database (pg_stat_user_tables: updates, inserts and deletes; HOT
 *   updates apart), in all and of claude_jobs;
 * - WAL written: the whole server's (pg_current_wal_flush_lsn, so other databases' writes are in
 *   it), and that of the records touching the bench database's relations (pg_walinspect, when
 *   the server has it; commit records name no relation and are left out);
 * - CPU of the worker processes, of the sweeper and of the bench database's Postgres backends
 *   (/proc/PID/stat, user + system).
 * Postgres flushes a backend's table counters at most once a second (an idle one within ten), so
 * the phase waits a little after the last start before its first sample.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import type { Db } from '../src/db/database.js';
import { type EnqueueDeps, enqueueJobs } from '../src/jobs/enqueue-jobs.js';
import type { Child } from './children.js';
import { round } from './measure.js';

export interface HeldOptions {
  agents: number;
  processes: number;
  concurrency: number;
  seconds: number;
  /** The workers' and the sweeper's HEARTBEAT_MS, LEASE_MS and SWEEP_INTERVAL_MS: their defaults unless set. */
  timings: Record<string, string>;
}

export interface HeldDeps {
  db: Db;
  enqueue: EnqueueDeps;
  /** Starts `processes` worker processes of `concurrency` each with this extra environment. */
  startWorkers(processes: number, concurrency: number, env: Record<string, string>): Promise<Child[]>;
  startSweeper(env: Record<string, string>): Promise<Child>;
  log(line: string): void;
}

export interface HeldResults {
  held_agents: number;
  held_processes: number;
  held_concurrency: number;
  held_seconds: number;
  held_row_writes_per_s: number;
  held_hot_updates_per_s: number;
  held_job_row_writes_per_s: number;
  held_wal_bytes_per_s: number;
  /** Null where pg_walinspect is not installed. */
  held_db_wal_bytes_per_s: number | null;
  held_worker_cpu_per_s: number;
  held_sweeper_cpu_per_s: number;
  held_postgres_cpu_per_s: number;
  held_worker_rss_mb: number;
}

/** Long enough that no agent ends while it is measured. */
const AGENT_SLEEP_MS = 3_600_000;
/** After the last job started: the claims' table counters reach pg_stat_user_tables first. */
const SETTLE_MS = 12_000;

export async function heldAgents(deps: HeldDeps, ideas: readonly string[], options: HeldOptions): Promise<HeldResults> {
  const { db } = deps;
  const env = {
    ...options.timings,
    DRY_RUN_DELAY_MS: String(AGENT_SLEEP_MS),
    // 10 processes x the default pool of 10 would take every connection this server allows.
    DB_POOL_MAX: '3',
    SHUTDOWN_TIMEOUT_MS: '1000',
  };
  const walInspect = await sql`CREATE EXTENSION IF NOT EXISTS pg_walinspect`
    .execute(db)
    .then(() => true)
    .catch(() => false);
  const sweeper = await deps.startSweeper(options.timings);
  const workers = await deps.startWorkers(options.processes, options.concurrency, env);
  try {
    for (let offset = 0; offset < ideas.length; offset += 1_000) {
      const slice = ideas.slice(offset, offset + 1_000);
      await enqueueJobs(
        deps.enqueue,
        slice.map((idea) => ({ kind: 'PLAN_CHAT', subjectId: idea, payload: { message: 'held' } })),
        { actorTokenId: null },
      );
    }
    await untilRunning(db, ideas.length);
    deps.log(`held: all ${ideas.length} agents running; settling for ${SETTLE_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const pids = { workers: workers.map((worker) => worker.pid), sweeper: [sweeper.pid] };
    const before = await sample(db, pids);
    await new Promise((resolve) => setTimeout(resolve, options.seconds * 1_000));
    const after = await sample(db, pids);
    const running = await countRunning(db);
    if (running !== ideas.length) throw new Error(`bench: ${ideas.length - running} held agents stopped running while measured`);
    const seconds = (after.at - before.at) / 1000;
    const rate = (value: number, digits = 1) => round(value / seconds, digits);
    const dbWal = walInspect ? await databaseWal(db, before.walLsn, after.walLsn) : null;
    const backends = [...after.backendTicks].filter(([pid]) => before.backendTicks.has(pid));
    return {
      held_agents: ideas.length,
      held_processes: options.processes,
      held_concurrency: options.concurrency,
      held_seconds: round(seconds, 1),
      held_row_writes_per_s: rate(after.rowWrites - before.rowWrites),
      held_hot_updates_per_s: rate(after.hotUpdates - before.hotUpdates),
      held_job_row_writes_per_s: rate(after.jobRowWrites - before.jobRowWrites),
      held_wal_bytes_per_s: rate(after.walBytes - before.walBytes, 0),
      held_db_wal_bytes_per_s: dbWal === null ? null : rate(dbWal, 0),
      held_worker_cpu_per_s: rate(ticksToSeconds(after.workerTicks - before.workerTicks), 3),
      held_sweeper_cpu_per_s: rate(ticksToSeconds(after.sweeperTicks - before.sweeperTicks), 3),
      held_postgres_cpu_per_s: rate(
        ticksToSeconds(backends.reduce((sum, [pid, ticks]) => sum + ticks - before.backendTicks.get(pid)!, 0)),
        3,
      ),
      held_worker_rss_mb: round(Math.max(...workers.map((worker) => rss(worker.pid))) / 2 ** 20),
    };
  } finally {
    await Promise.all([...workers, sweeper].map((child) => child.stop()));
  }
}

async function countRunning(db: Db): Promise<number> {
  const { rows } = await sql<{ running: number }>`SELECT count(*)::int AS running FROM claude_jobs WHERE status = 'RUNNING'`.execute(db);
  return rows[0]!.running;
}

async function untilRunning(db: Db, count: number, timeoutMs = 300_000) {
  const deadline = Date.now() + timeoutMs;
  while ((await countRunning(db)) < count) {
    if (Date.now() > deadline) throw new Error(`bench: the ${count} held agents did not all start within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

interface Sample {
  at: number;
  rowWrites: number;
  hotUpdates: number;
  jobRowWrites: number;
  walBytes: number;
  walLsn: string;
  workerTicks: number;
  sweeperTicks: number;
  backendTicks: Map<number, number>;
}

async function sample(db: Db, pids: { workers: number[]; sweeper: number[] }): Promise<Sample> {
  const { rows } = await sql<{ writes: string; hot: string; job_writes: string; wal: string; lsn: string }>`
    SELECT sum(n_tup_upd + n_tup_ins + n_tup_del) AS writes, sum(n_tup_hot_upd) AS hot,
      sum(n_tup_upd + n_tup_ins + n_tup_del) FILTER (WHERE relname = 'claude_jobs') AS job_writes,
      pg_current_wal_flush_lsn() - '0/0'::pg_lsn AS wal, pg_current_wal_flush_lsn()::text AS lsn
    FROM pg_stat_user_tables
  `.execute(db);
  const backends = await sql<{ pid: number }>`
    SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
  `.execute(db);
  const row = rows[0]!;
  return {
    at: performance.now(),
    rowWrites: Number(row.writes),
    hotUpdates: Number(row.hot),
    jobRowWrites: Number(row.job_writes),
    walBytes: Number(row.wal),
    walLsn: row.lsn,
    workerTicks: sum(pids.workers.map(cpuTicks)),
    sweeperTicks: sum(pids.sweeper.map(cpuTicks)),
    backendTicks: new Map(backends.rows.map((backend) => [backend.pid, cpuTicks(backend.pid)])),
  };
}

/** Bytes of the WAL records between two positions that touch a relation of this database. */
async function databaseWal(db: Db, from: string, to: string): Promise<number> {
  // Nothing written in the window (a short one can be quiet): Postgres 15's pg_walinspect refuses a
  // start at the last flushed position, as "future".
  if (from === to) return 0;
  const { rows } = await sql<{ bytes: string }>`
    SELECT coalesce(sum(record_length), 0) AS bytes FROM pg_get_wal_records_info(${from}::pg_lsn, ${to}::pg_lsn)
    WHERE block_ref ~ ('rel [0-9]+/' || (SELECT oid FROM pg_database WHERE datname = current_database()) || '/')
  `.execute(db);
  return Number(rows[0]!.bytes);
}

const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

/** User + system CPU of a process so far, in clock ticks (0 once it is gone). */
function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

let clockTicks: number | undefined;
function ticksToSeconds(ticks: number): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticks / clockTicks;
}

function rss(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}
