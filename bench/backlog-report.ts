/**
 * The results of `npm run bench:backlog`: kept as JSON per label (bench/results/backlog-before.json,
 * backlog-after.json, committed), so that a run for one column writes the BENCHMARKS.md section
 * with the other column as last measured.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const LABELS = ['before', 'after'] as const;
export type Label = (typeof LABELS)[number];

/** One line of the table: `key` pairs the two columns' figures. */
export interface Row {
  key: string;
  measurement: string;
  value: string;
}

export interface BacklogResults {
  label: Label;
  commit: string;
  takenAt: string;
  /** What the big database held when measured. */
  volumes: { queued: number; jobs: number; history: number; historySize: string; jobsSize: string };
  /** The acceptance figure: CPU(sweep 2 at 100,000 queued) - CPU(sweep 2 at 1,000 queued). */
  acceptance: { extraCpuS: number; targetS: number; met: boolean };
  rows: Row[];
  /** Every sample, for a look behind the table. */
  raw: unknown;
}

const ROOT = path.join(import.meta.dirname, '..');
export const RESULTS_DIR = path.join(ROOT, 'bench', 'results');
export const BENCHMARKS_FILE = path.join(ROOT, 'BENCHMARKS.md');
export const SECTION_TITLE = "## A year's backlog: periodic costs at 1,000,000 queued jobs and 10,000,000 history rows (issue 23)";
/** The section goes before this one when it is not there yet. */
const FOLLOWING = '## Targets met and missed';

const resultsFile = (dir: string, label: Label) => path.join(dir, `backlog-${label}.json`);

export function saveResults(results: BacklogResults, dir = RESULTS_DIR): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(resultsFile(dir, results.label), `${JSON.stringify(results, null, 2)}\n`);
}

export function loadResults(label: Label, dir = RESULTS_DIR): BacklogResults | null {
  const file = resultsFile(dir, label);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as BacklogResults) : null;
}

function table(before: BacklogResults | null, after: BacklogResults | null): string {
  const keys: { key: string; measurement: string }[] = [];
  for (const row of [...(before?.rows ?? []), ...(after?.rows ?? [])]) {
    if (!keys.some((known) => known.key === row.key)) keys.push(row);
  }
  const cell = (results: BacklogResults | null, key: string) => results?.rows.find((row) => row.key === key)?.value ?? '—';
  return [
    '| measurement | before | after |',
    '|---|---:|---:|',
    ...keys.map(({ key, measurement }) => `| ${measurement} | ${cell(before, key)} | ${cell(after, key)} |`),
  ].join('\n');
}

function acceptanceLine(results: BacklogResults | null): string {
  if (!results) return '—';
  const { extraCpuS, targetS, met } = results.acceptance;
  return `${extraCpuS.toFixed(2)} s extra CPU (${met ? 'met' : 'missed'}: target ≤ ${targetS.toFixed(2)} s)`;
}

function takenLine(results: BacklogResults | null, label: Label): string {
  if (!results) return `${label}: not measured yet`;
  const v = results.volumes;
  return (
    `${label}: commit ${results.commit}, ${results.takenAt.slice(0, 16).replace('T', ' ')} UTC; at volume ` +
    `${v.queued.toLocaleString('en')} QUEUED of ${v.jobs.toLocaleString('en')} jobs (claude_jobs ${v.jobsSize}), ` +
    `${v.history.toLocaleString('en')} history rows (transitions ${v.historySize})`
  );
}

export function renderSection(before: BacklogResults | null, after: BacklogResults | null): string {
  return `${SECTION_TITLE}

What the fleet pays, again and again, once it has run for a long time: each sweep, each metrics
scrape, the lists and stats a page polls, and a reconnecting client's replay of the event stream.
\`npm run bench:backlog\` (bench/backlog.ts) builds its volumes with SQL (INSERT ... SELECT
generate_series, then VACUUM ANALYZE), not by running jobs: in jobfleet_bench_backlog,
1,000,000 QUEUED jobs, each on a subject of its own (800,000 ideas, 200,000 tasks: the sweep
would mark all but the newest QUEUED job of one kind and subject SKIPPED), over 20 owners, with
turns numbered as the enqueue path numbers them and each job's enqueue history row; and 2,000,000
finished jobs of the last 45 days (4 history rows each: created, claimed, started, done or
failed), for 10,000,000 history rows with the subjects' own. Two small databases hold 1,000 and
100,000 QUEUED jobs and only their own history. Redis is a redis-server of the bench's own
(no persistence), each size under its own BullMQ prefix.

Sweeps: \`jobfleet sweeper --once\` as a process of its own (the compiled build, process start
included), wall time and the process's own CPU (its rusage, reaped). Sweep 1 finds Redis empty
and adds every queued job (the full check after a loss of Redis data); sweep 2 follows with
nothing lost (the median of 5; at 1,000 and 100,000 the two sizes' samples taken in turn, so
that both see the machine equally busy). Redis CPU is the bench's own server's; Postgres's is
every backend of the shared server, so indicative only; "machine busy" is the share of both
cores' time in use over the sweep, anyone's work included (the machine is shared). API: a \`jobfleet api\` process on the big
database, admin token; each route called once (first) and then 5 times (median). Replay: GET
/api/v1/events with Last-Event-ID of the history row an hour or a day old, timed to the
\`connected\` event the route sends once the replay is done (cut off at 120 s). The history is
dated from the moment the volumes are built, so the replays mean the same only on a fresh build
(a \`--reuse\` an hour later finds no row newer than an hour).

Run alone, under the bench lock, on the base code (\`--label before\`) and after the change
(\`--label after\`), each run filling its column and keeping the other (bench/results/backlog-*.json):

\`\`\`sh
flock /tmp/jobfleet-bench.lock npm run bench:backlog -- --label before --keep
\`\`\`

${table(before, after)}

Acceptance (issue 23): with 100,000 queued jobs and no Redis loss, a sweep costs the sweeper at
most a tenth of the extra CPU a full check had before (about 1.8 s over the 1,000-job sweep):
CPU(sweep 2 at 100,000) − CPU(sweep 2 at 1,000) ≤ 0.18 s.
- before: ${acceptanceLine(before)}
- after: ${acceptanceLine(after)}

${takenLine(before, 'before')}.
${takenLine(after, 'after')}.
`;
}

/** `text` (a BENCHMARKS.md) with the section in place of the last one, or before the targets' section. */
export function withSection(text: string, section: string): string {
  const start = text.indexOf(SECTION_TITLE);
  if (start >= 0) {
    const end = text.indexOf('\n## ', start + SECTION_TITLE.length);
    return `${text.slice(0, start)}${section}${end < 0 ? '' : `\n${text.slice(end + 1)}`}`;
  }
  const at = text.indexOf(FOLLOWING);
  return at < 0 ? `${text.trimEnd()}\n\n${section}` : `${text.slice(0, at)}${section}\n${text.slice(at)}`;
}

export function writeSection(section: string, file = BENCHMARKS_FILE): void {
  writeFileSync(file, withSection(readFileSync(file, 'utf8'), section));
}
