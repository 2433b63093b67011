/** The bench's results: their shape, a table for people, and BENCHMARKS.md. */
import { readFileSync, writeFileSync } from 'node:fs';
import type { HeldResults } from './held.js';
import type { GraphileConfig, PeerRun, PgBossConfig } from './peers.js';

type Quantiles = { p50: number; p95: number; p99: number };
type Rounds = { rounds_jobs_per_second: number[] };

/** The held phase's figures (`--only held`) sit at the top level, `held_*`. */
export interface BenchResults extends Partial<HeldResults> {
  date: string;
  command: string;
  machine: { cores: number; cpu: string; memory_gb: number };
  versions: { node: string; postgres: string; redis: string; bullmq: string; graphile_worker: string; pg_boss: string };
  options: { jobs: number; rounds: number; processes: number; concurrency: number; scaling_jobs: number; latency_rate: number | null };
  /** Each throughput measure is the run of median throughput; rounds_jobs_per_second holds every round. */
  raw_bullmq: Rounds & {
    jobs: number;
    seconds: number;
    jobs_per_second: number;
    add_bulk_jobs_per_second: number;
    worker_peak_rss_mb: number;
  };
  naive: Rounds & { jobs: number; seconds: number; jobs_per_second: number; worker_peak_rss_mb: number };
  jobfleet: Rounds & {
    jobs: number;
    processes: number;
    concurrency: number;
    seconds: number;
    jobs_per_second: number;
    enqueue_jobs_per_second: number;
    history_rows: number;
    enqueue_to_running_ms: Quantiles;
    enqueue_to_done_ms: Quantiles;
    worker_peak_rss_mb: number;
    traced_jobs: number;
  };
  /** The durable peers on no-op jobs (bench/peers.ts): each run's `config` says how it was set up. */
  graphile_worker: Rounds & PeerRun;
  graphile_worker_batched: Rounds & PeerRun;
  pg_boss: Rounds & PeerRun;
  /** Time-boxed: `jobs` are those done within `seconds` of the first enqueue, of `jobs_enqueued`. */
  pg_boss_default: Rounds & PeerRun;
  latency_at_half_load: {
    offered_jobs_per_second: number;
    jobs: number;
    enqueue_to_running_ms: Quantiles;
    enqueue_to_done_ms: Quantiles;
    /** The same load offered first to a fleet that has just started, left out of the figures above. */
    warmup: { seconds: number; jobs: number; enqueue_to_running_p99_ms: number };
  };
  scaling?: { processes: number; concurrency: number; jobs: number; jobs_per_second: number; peak_rss_mb: number }[];
  /** One owner, many owners taking turns, and many owners under OWNER_MAX_RUNNING, back to back. */
  fair_shares?: {
    jobs: number;
    owners: number;
    owner_max_running: number;
    one_owner_jobs_per_second: number;
    many_owners_jobs_per_second: number;
    many_owners_capped_jobs_per_second: number;
    many_owners_vs_one: number;
    capped_vs_one: number;
    enqueue_to_running_p99_ms: { one_owner: number; many_owners: number; capped: number };
  };
  http: {
    single_requests: number;
    single_concurrency: number;
    single_warmup_requests: number;
    single_jobs_per_second: number;
    bulk_jobs: number;
    bulk_batch_size: number;
    bulk_concurrency: number;
    bulk_warmup_jobs: number;
    bulk_jobs_per_second: number;
  };
  /** Medians of the per-round ratios (each round's runs were made one after the other). */
  ratios: {
    jobfleet_vs_raw_bullmq: number;
    jobfleet_vs_naive: number;
    jobfleet_vs_graphile_worker: number;
    jobfleet_vs_graphile_worker_batched: number;
    jobfleet_vs_pg_boss: number;
    rounds: { raw: number; naive: number; graphile_worker: number; graphile_worker_batched: number; pg_boss: number }[];
  };
  targets: Record<string, boolean>;
  duration_seconds: number;
  /** With --tracing: each jobfleet round run with tracing off and on (bench/run.ts tracingFigures). */
  tracing?: {
    jobs: number;
    processes: number;
    concurrency: number;
    off_jobs_per_second: number;
    on_jobs_per_second: number;
    on_vs_off: number;
    rounds: { first: 'off' | 'on'; off: TracingSide; on: TracingSide; on_vs_off: number }[];
  };
}

/** One side of a tracing round: the jobfleet run's figures, and what its trace carried. */
export interface TracingSide {
  jobs_per_second: number;
  enqueue_jobs_per_second: number;
  enqueue_to_running_p99_ms: number;
  enqueue_to_done_p99_ms: number;
  worker_peak_rss_mb: number;
  traced_jobs: number;
  spans_received: number;
}

const n = (value: number) => value.toLocaleString('en');
const rounds = (run: Rounds) => (run.rounds_jobs_per_second.length > 1 ? `; rounds ${run.rounds_jobs_per_second.map(n).join(', ')}` : '');
const mark = (ok: boolean | undefined) => (ok ? 'met' : 'MISSED');

export function summaryRows(r: BenchResults): [string, string, string][] {
  return [
    [
      'raw BullMQ, no-op',
      `${n(r.raw_bullmq.jobs_per_second)} jobs/s`,
      `addBulk ${n(r.raw_bullmq.add_bulk_jobs_per_second)} jobs/s${rounds(r.raw_bullmq)}`,
    ],
    ['naive (BullMQ + 3 guarded updates)', `${n(r.naive.jobs_per_second)} jobs/s`, rounds(r.naive).slice(2)],
    [
      `jobfleet (${r.jobfleet.processes} x ${r.jobfleet.concurrency})`,
      `${n(r.jobfleet.jobs_per_second)} jobs/s`,
      `${r.ratios.jobfleet_vs_raw_bullmq} x raw (target 0.5: ${mark(r.targets.throughput_half_of_raw)}), ${r.ratios.jobfleet_vs_naive} x naive (target 3: ${mark(r.targets.throughput_3x_naive)})${rounds(r.jobfleet)}`,
    ],
    ...peerRows(r),
    [
      'enqueue -> running at saturation',
      `p50 ${r.jobfleet.enqueue_to_running_ms.p50} / p95 ${r.jobfleet.enqueue_to_running_ms.p95} / p99 ${r.jobfleet.enqueue_to_running_ms.p99} ms`,
      `enqueue -> done p99 ${r.jobfleet.enqueue_to_done_ms.p99} ms`,
    ],
    [
      `enqueue -> running at ${n(r.latency_at_half_load.offered_jobs_per_second)} jobs/s`,
      `p50 ${r.latency_at_half_load.enqueue_to_running_ms.p50} / p95 ${r.latency_at_half_load.enqueue_to_running_ms.p95} / p99 ${r.latency_at_half_load.enqueue_to_running_ms.p99} ms`,
      `after ${r.latency_at_half_load.warmup.seconds} s warm-up (its p99 ${r.latency_at_half_load.warmup.enqueue_to_running_p99_ms} ms); target p99 <= 50 ms: ${mark(r.targets.running_p99_under_50ms_at_half_load)}`,
    ],
    [
      'HTTP POST /api/v1/jobs',
      `${n(r.http.single_jobs_per_second)} jobs/s`,
      `${r.http.single_concurrency} clients, ${n(r.http.single_requests)} calls after ${n(r.http.single_warmup_requests)} to warm up; target 2,000: ${mark(r.targets.http_single_2000_per_s)}`,
    ],
    [
      'HTTP POST /api/v1/jobs/batch',
      `${n(r.http.bulk_jobs_per_second)} jobs/s`,
      `${r.http.bulk_batch_size} per call, ${r.http.bulk_concurrency} clients, after ${n(r.http.bulk_warmup_jobs)} jobs to warm up; target 15,000: ${mark(r.targets.http_bulk_15000_per_s)}`,
    ],
    [
      'worker peak RSS',
      `${r.jobfleet.worker_peak_rss_mb} MB`,
      `concurrency ${r.jobfleet.concurrency}; target < 200 MB: ${mark(r.targets.worker_rss_under_200mb)}`,
    ],
    ...fairShareRows(r),
  ];
}

/** A peer's run, named by what it was set up with, in the peer's own option names. */
function describe(label: string, config: PeerRun['config']): string {
  if ('concurrent_jobs' in config) {
    const c: GraphileConfig = config;
    const batching =
      c.local_queue_size > 0
        ? `localQueue.size ${c.local_queue_size}, completeJobBatchDelay ${c.complete_job_batch_delay}, failJobBatchDelay ${c.fail_job_batch_delay}`
        : 'no local queue, completions one by one';
    return `${config.peer} ${config.version} ${label} (concurrentJobs ${c.concurrent_jobs}, maxPoolSize ${c.max_pool_size}, ${batching})`;
  }
  const c: PgBossConfig = config;
  return `${config.peer} ${config.version} ${label} (${c.work_loops} work() x batchSize ${c.batch_size ?? 1}, polling ${c.polling_interval_seconds ?? 2} s)`;
}

function peerRows(r: BenchResults): [string, string, string][] {
  const vs = (ratio: number, target?: { x: number; met: boolean | undefined }) =>
    `jobfleet ${ratio} x this${target ? ` (target ${target.x}: ${mark(target.met)})` : ''}`;
  const row = (label: string, run: Rounds & PeerRun, notes: string): [string, string, string] => [
    describe(label, run.config),
    `${n(run.jobs_per_second)} jobs/s`,
    `${notes}; ${run.config.peer === 'pg-boss' ? 'insert' : 'addJobs'} ${n(run.enqueue_jobs_per_second)} jobs/s; worker peak RSS ${run.worker_peak_rss_mb} MB${rounds(run)}`,
  ];
  const boxed = r.pg_boss_default;
  return [
    row('defaults', r.graphile_worker, vs(r.ratios.jobfleet_vs_graphile_worker)),
    row(
      'batched',
      r.graphile_worker_batched,
      vs(r.ratios.jobfleet_vs_graphile_worker_batched, { x: 1, met: r.targets.throughput_vs_graphile_worker_batched_1x }),
    ),
    row('best', r.pg_boss, vs(r.ratios.jobfleet_vs_pg_boss, { x: 1.5, met: r.targets.throughput_vs_pg_boss_1_5x })),
    row('defaults', boxed, `${n(boxed.jobs)} of ${n(boxed.jobs_enqueued)} jobs done in the first ${boxed.seconds} s (1 job per poll)`),
  ];
}

function fairShareRows({ fair_shares: f }: BenchResults): [string, string, string][] {
  if (!f) return [];
  const p99 = f.enqueue_to_running_p99_ms;
  return [
    [
      `fair shares: ${n(f.owners)} owners taking turns`,
      `${n(f.many_owners_jobs_per_second)} jobs/s`,
      `${f.many_owners_vs_one} x one owner (${n(f.one_owner_jobs_per_second)} jobs/s, run just before); p99 enqueue -> running ${p99.many_owners} ms (one owner ${p99.one_owner} ms)`,
    ],
    [
      `fair shares: OWNER_MAX_RUNNING=${f.owner_max_running}`,
      `${n(f.many_owners_capped_jobs_per_second)} jobs/s`,
      `${f.capped_vs_one} x one owner; p99 enqueue -> running ${p99.capped} ms`,
    ],
  ];
}

export function printTable(r: BenchResults) {
  const rows = summaryRows(r);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) process.stderr.write(`${row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}\n`);
  if (r.scaling) {
    process.stderr.write('\nscaling (jobs/s): processes x concurrency\n');
    for (const processes of [1, 2, 4]) {
      const cells = r.scaling.filter((s) => s.processes === processes).map((s) => `c${s.concurrency}: ${n(s.jobs_per_second)}`);
      process.stderr.write(`  ${processes} process(es): ${cells.join('   ')}\n`);
    }
  }
}

const BEGIN = '<!-- bench:results:begin -->';
const END = '<!-- bench:results:end -->';

/** Rewrites the measured part of BENCHMARKS.md (between its markers), keeping the analysis around it. */
export function writeBenchmarks(r: BenchResults, file: string) {
  const table = ['| measure | result | notes |', '|---|---|---|', ...summaryRows(r).map((row) => `| ${row.join(' | ')} |`)].join('\n');
  const scaling = r.scaling
    ? [
        '',
        `Scaling, ${n(r.options.scaling_jobs)} jobs per run (jobs/s; peak worker RSS):`,
        '',
        '| worker processes | concurrency 10 | concurrency 50 | concurrency 100 |',
        '|---|---|---|---|',
        ...[1, 2, 4].map(
          (p) =>
            `| ${p} | ${[10, 50, 100]
              .map((c) => r.scaling!.find((s) => s.processes === p && s.concurrency === c))
              .map((s) => (s ? `${n(s.jobs_per_second)} (${s.peak_rss_mb} MB)` : '-'))
              .join(' | ')} |`,
        ),
      ].join('\n')
    : '';
  const block = [
    BEGIN,
    `Measured ${r.date.slice(0, 10)} with \`${r.command}\` (${r.duration_seconds} s in all) on ${r.machine.cores} cores (${r.machine.cpu}), ${r.machine.memory_gb} GiB;`,
    `Node ${r.versions.node}, PostgreSQL ${r.versions.postgres}, Redis ${r.versions.redis}, BullMQ ${r.versions.bullmq}.`,
    `${n(r.options.jobs)} jobs per throughput run, ${r.options.rounds} rounds (medians below); jobfleet wrote ${n(r.jobfleet.history_rows)} job history rows per run.`,
    '',
    table,
    scaling,
    '',
    '```json',
    JSON.stringify(r),
    '```',
    END,
  ].join('\n');
  writeMarkedSection(file, { begin: BEGIN, end: END, block });
}

/**
 * Puts a block (which starts with `begin` and ends with `end`) into BENCHMARKS.md in place of
 * the one between the same markers, or at the end (after `title`, when given) the first time.
 */
export function writeMarkedSection(file: string, section: { begin: string; end: string; block: string; title?: string }) {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    text = '# Benchmarks\n';
  }
  const start = text.indexOf(section.begin);
  const end = text.indexOf(section.end);
  const appended = section.title ? `${section.title}\n\n${section.block}` : section.block;
  text =
    start === -1 || end === -1
      ? `${text.trimEnd()}\n\n${appended}\n`
      : `${text.slice(0, start)}${section.block}${text.slice(end + section.end.length)}`;
  writeFileSync(file, text);
}
