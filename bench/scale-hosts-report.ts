/** `npm run scale:hosts`'s results: their shape, what binds each run, a table, and its section of BENCHMARKS.md. */
import { writeMarkedSection } from './report.js';

/** CPU used during a run's measured window, in cores (1 = one core busy all the time). */
export interface CoresUsed {
  postgres: number;
  redis: number;
  workers: number;
  /** Its reconcile reads every queued job older than a few seconds, each sweep: a backlog's cost. */
  sweeper: number;
  /** The rest of what the machine ran: this script, the kernel's network, any other work on it. */
  other: number;
  /** Everything the machine ran. */
  machine: number;
}

export interface HostsRun {
  hosts: number;
  worker_processes: number;
  /** Jobs finished after every worker was up, and the seconds from then to the last one. */
  jobs: number;
  seconds: number;
  jobs_per_second: number;
  /** What the fleet's slots allow: processes x concurrency / the dry-run delay. */
  ceiling_jobs_per_second: number;
  cores: CoresUsed;
  binds: string;
}

export interface HostsResults {
  date: string;
  command: string;
  machine: { cores: number; cpu: string; memory_gb: number };
  versions: { node: string; postgres: string; redis: string; bullmq: string };
  setup: {
    jobs: number;
    workers_per_host: number;
    concurrency: number;
    dry_run_delay_ms: number;
    queue_shards: number;
    redis_masters: number;
    redis_replicas_per_master: number;
    subnet: string;
    link_delay: string;
  };
  runs: HostsRun[];
  duration_seconds: number;
}

const n = (value: number) => value.toLocaleString('en');
const cores = (value: number) => value.toFixed(2);

/**
 * What held a run back. Near its ceiling, its slots (each job waits out its delay); with the
 * machine's cores nearly all busy, the CPU, and the process that took most of it; else neither
 * was full, and what is left is waiting on one another: round trips between the processes.
 */
export function whatBinds(run: Omit<HostsRun, 'binds'>, machineCores: number): string {
  if (run.jobs_per_second >= 0.85 * run.ceiling_jobs_per_second) return 'the slots: concurrency / delay';
  if (run.cores.machine >= 0.85 * machineCores) {
    const [name, used] = (Object.entries(run.cores) as [keyof CoresUsed, number][])
      .filter(([key]) => key !== 'machine')
      .sort((a, b) => b[1] - a[1])[0]!;
    return `the CPU (${cores(run.cores.machine)} of ${machineCores} cores busy; most: ${name}, ${cores(used)})`;
  }
  return 'neither slots nor CPU: round trips between the processes';
}

function tableRows(r: HostsResults): string[][] {
  return r.runs.map((run) => [
    String(run.hosts),
    `${run.worker_processes} x ${r.setup.concurrency}`,
    n(run.jobs_per_second),
    n(run.ceiling_jobs_per_second),
    cores(run.cores.postgres),
    cores(run.cores.redis),
    cores(run.cores.workers),
    cores(run.cores.sweeper),
    cores(run.cores.other),
    `${cores(run.cores.machine)} / ${r.machine.cores}`,
    run.binds,
  ]);
}

const HEADER = [
  'hosts',
  'workers x concurrency',
  'jobs/s',
  'slots allow',
  'Postgres',
  'Redis',
  'workers',
  'sweeper',
  'other',
  'machine',
  'what binds',
];

/** Each run's throughput against one host's: how far adding hosts carried the fleet. */
export function scalingLine(r: HostsResults): string {
  const one = r.runs[0]?.jobs_per_second ?? 0;
  const steps = r.runs.map((run) => `${n(run.jobs_per_second)} (${one ? (run.jobs_per_second / one).toFixed(2) : '-'} x)`);
  return `Jobs/s with 1 to ${r.runs.length} hosts: ${steps.join(', ')}; the last run is held by ${r.runs.at(-1)?.binds ?? '-'}.`;
}

export function printHostsTable(r: HostsResults) {
  const rows = [HEADER, ...tableRows(r)];
  const widths = HEADER.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) process.stderr.write(`${row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}\n`);
  process.stderr.write(`${scalingLine(r)}\n`);
}

const TITLE = '## Workers on many hosts';
const BEGIN = '<!-- scale-hosts:begin -->';
const END = '<!-- scale-hosts:end -->';

/** Rewrites its own block of BENCHMARKS.md (adding the section at the end the first time), leaving every other section as it was. */
export function writeHostsSection(r: HostsResults, file: string) {
  const s = r.setup;
  const block = [
    BEGIN,
    `Measured ${r.date.slice(0, 10)} with \`${r.command}\` (${r.duration_seconds} s in all) on ${r.machine.cores} cores (${r.machine.cpu}), ${r.machine.memory_gb} GiB;`,
    `Node ${r.versions.node}, PostgreSQL ${r.versions.postgres}, Redis ${r.versions.redis}, BullMQ ${r.versions.bullmq}.`,
    '',
    `Each host is a network namespace joined by a veth pair to a bridge (${s.subnet}); link delay: ${s.link_delay}.`,
    `Redis Cluster of ${s.redis_masters} masters with ${s.redis_replicas_per_master} replica(s) each and a Postgres of the script's own, both listening on the bridge's address;`,
    `per host ${s.workers_per_host} \`jobfleet worker\` process(es) at concurrency ${s.concurrency}; one sweeper on host 1 (SWEEP_INTERVAL_MS 10 s); PLAN_CHAT split over ${s.queue_shards} queue(s).`,
    `Each run: ${n(s.jobs)} dry-run jobs that each wait ${s.dry_run_delay_ms} ms, enqueued before its workers start; jobs/s counts the jobs DONE from the moment`,
    'every worker is up to the last one (Postgres `finished_at`). CPU is in cores over that window (1.00 = one core all the time).',
    '',
    `| ${HEADER.join(' | ')} |`,
    `|${HEADER.map(() => '---').join('|')}|`,
    ...tableRows(r).map((row) => `| ${row.join(' | ')} |`),
    '',
    scalingLine(r),
    '',
    '```json',
    JSON.stringify(r),
    '```',
    END,
  ].join('\n');
  writeMarkedSection(file, { begin: BEGIN, end: END, block, title: TITLE });
}
