/**
 * The jobs' figures of a scrape: counts by kind and status, the agents' usage, the run-time
 * histogram of finished jobs and the jobs stopped at a budget, read at a cost that follows what
 * changed rather than how many jobs have piled up.
 *
 * - Live jobs (QUEUED, CLAIMED, RUNNING) are counted afresh at each read, from the live rows
 *   only: the queued ones by kind through a partial index that holds nothing else (an index-only
 *   count), the held ones through the held indexes. A backlog costs index entries, not rows.
 * - Finished jobs (DONE, FAILED, CANCELLED, SKIPPED) are folded, as history-counts.ts folds the
 *   history: a process's first read reads the finished jobs once; after that a read adds the jobs
 *   whose terminal transition lies past a settled history id, joined to their rows by primary key
 *   for usage, run time and error. A terminal status has no way out, so each finished job has one
 *   terminal transition and is added once. Transitions within SETTLE_MS of now lie past the line
 *   and are read afresh at each read, so one that commits after a later id was read still counts.
 *
 * The usage (tokens, cost) is that of finished jobs: a running job's usage grows while it runs
 * and a job may go back to the queue, so counting it before the job finishes would let the
 * counters fall. The finished figures are per process, as Prometheus counters are: jobs that
 * retention deletes later stay counted; a process started after they were deleted counts what it
 * finds (a counter reset).
 */
import { sql } from 'kysely';
import type { Db, Executor } from '../db/database.js';
import type { JobKind } from '../job-kinds.js';
import type { ClaudeJobStatus } from '../machines/claude-job.machine.js';
import { SETTLE_MS } from './history-counts.js';

export const DURATION_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600];

export const TERMINAL_STATUSES = ['DONE', 'FAILED', 'CANCELLED', 'SKIPPED'] as const satisfies readonly ClaudeJobStatus[];

export interface JobFigures {
  kind: JobKind;
  status: ClaudeJobStatus;
  count: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** Jobs of this kind and status with both a start and a finish. */
  timed: number;
  /** Their run time (finish less start), in seconds. */
  secondsSum: number;
  /** Of the timed jobs, how many ran at most DURATION_BUCKETS[i] seconds. */
  buckets: number[];
  /** Jobs whose error is budget_exceeded. */
  budgetExceeded: number;
}

export interface JobFiguresReader {
  /** The figures of every kind and status (concurrent reads share one: call through scrapeRead too). */
  read(): Promise<JobFigures[]>;
}

type FigureRow = Record<string, string | null> & { kind: JobKind; status: ClaudeJobStatus };

/** The aggregates of one group of finished jobs (columns of claude_jobs aliased `j`). */
function finishedAggregates() {
  const seconds = sql`extract(epoch from j.finished_at - j.started_at)`;
  return sql.join([
    sql`count(*) AS count`,
    sql`coalesce(sum(j.input_tokens), 0) AS input_tokens`,
    sql`coalesce(sum(j.output_tokens), 0) AS output_tokens`,
    sql`coalesce(sum(j.cost_usd), 0) AS cost_usd`,
    sql`count(${seconds}) AS timed`,
    sql`coalesce(sum(${seconds}), 0) AS seconds_sum`,
    sql`count(*) FILTER (WHERE j.error->>'code' = 'budget_exceeded') AS budget_exceeded`,
    ...DURATION_BUCKETS.map((le, i) => sql`count(*) FILTER (WHERE ${seconds} <= ${le}) AS ${sql.ref(`b${i}`)}`),
  ]);
}

function toFigures(row: FigureRow): JobFigures {
  return {
    kind: row.kind,
    status: row.status,
    count: Number(row.count),
    inputTokens: Number(row.input_tokens ?? 0),
    outputTokens: Number(row.output_tokens ?? 0),
    costUsd: Number(row.cost_usd ?? 0),
    timed: Number(row.timed ?? 0),
    secondsSum: Number(row.seconds_sum ?? 0),
    buckets: DURATION_BUCKETS.map((_, i) => Number(row[`b${i}`] ?? 0)),
    budgetExceeded: Number(row.budget_exceeded ?? 0),
  };
}

function liveFigures(kind: JobKind, status: ClaudeJobStatus, count: number): JobFigures {
  return toFigures({ kind, status, count: String(count) } as FigureRow);
}

function add(into: JobFigures, more: JobFigures): JobFigures {
  return {
    ...into,
    count: into.count + more.count,
    inputTokens: into.inputTokens + more.inputTokens,
    outputTokens: into.outputTokens + more.outputTokens,
    costUsd: into.costUsd + more.costUsd,
    timed: into.timed + more.timed,
    secondsSum: into.secondsSum + more.secondsSum,
    buckets: into.buckets.map((n, i) => n + more.buckets[i]!),
    budgetExceeded: into.budgetExceeded + more.budgetExceeded,
  };
}

function negated(figures: JobFigures): JobFigures {
  return {
    ...figures,
    count: -figures.count,
    inputTokens: -figures.inputTokens,
    outputTokens: -figures.outputTokens,
    costUsd: -figures.costUsd,
    timed: -figures.timed,
    secondsSum: -figures.secondsSum,
    buckets: figures.buckets.map((n) => -n),
    budgetExceeded: -figures.budgetExceeded,
  };
}

const terminal = sql.join(TERMINAL_STATUSES.map((status) => sql.lit(status)));

/**
 * The live jobs by kind and status. Queued: by kind through a partial index on status = 'QUEUED'
 * led by kind (index-only while the visibility map is current). Held: through the partial indexes
 * on status IN ('CLAIMED', 'RUNNING'), a set as small as the fleet's running capacity.
 */
export async function readLiveJobs(db: Executor): Promise<JobFigures[]> {
  const queued = await sql<{ kind: JobKind; count: string }>`
    SELECT kind, count(*) AS count FROM claude_jobs WHERE status = 'QUEUED' GROUP BY kind
  `.execute(db);
  const held = await sql<{ kind: JobKind; status: ClaudeJobStatus; count: string }>`
    SELECT kind, status, count(*) AS count FROM claude_jobs WHERE status IN ('CLAIMED', 'RUNNING') GROUP BY kind, status
  `.execute(db);
  return [
    ...queued.rows.map((row) => liveFigures(row.kind, 'QUEUED', Number(row.count))),
    ...held.rows.map((row) => liveFigures(row.kind, row.status, Number(row.count))),
  ];
}

export function createJobFigures(db: Db, settleMs = SETTLE_MS): JobFiguresReader {
  /** The history id through which finished jobs are in `settled`; null before the first read. */
  let settledThrough: string | null = null;
  let settled = new Map<string, JobFigures>();
  const keyOf = (kind: string, status: string) => `${kind}\u0000${status}`;
  const addTo = (map: Map<string, JobFigures>, figures: JobFigures) => {
    const key = keyOf(figures.kind, figures.status);
    const had = map.get(key);
    map.set(key, had ? add(had, figures) : figures);
  };

  const subtractFrom = (map: Map<string, JobFigures>, figures: JobFigures) => {
    const key = keyOf(figures.kind, figures.status);
    const left = add(map.get(key)!, negated(figures));
    if (left.count === 0) map.delete(key);
    else map.set(key, left);
  };

  // One snapshot for the whole read, so a job that finishes meanwhile is counted live or finished, not both or neither.
  const read = () =>
    db
      .transaction()
      .setIsolationLevel('repeatable read')
      .setAccessMode('read only')
      .execute((trx) => readIn(trx));

  const readIn = async (db: Executor): Promise<JobFigures[]> => {
    const line = await sql<{ id: string | null }>`
      SELECT max(id)::text AS id FROM transitions
      WHERE id > ${settledThrough ?? '0'}::bigint AND created_at < now() - ${settleMs} * interval '1 millisecond'
    `.execute(db);
    const nextLine = line.rows[0]?.id ?? settledThrough ?? '0';

    // The first read: every finished job, read once. Those whose terminal transition lies past the
    // line are then taken out of the settled figures again (the read is one snapshot, and a job's
    // status and its history row are written together, so they are among the finished jobs read):
    // the fold reads them afresh at each read until the line passes them.
    // The state moves only once every statement has answered: a read that fails leaves it as it was.
    const first = settledThrough === null;
    const from = settledThrough ?? nextLine;
    const nextSettled = new Map(settled);
    if (first) {
      const { rows } = await sql<FigureRow>`
        SELECT j.kind, j.status, ${finishedAggregates()} FROM claude_jobs j
        WHERE j.status IN (${terminal}) GROUP BY j.kind, j.status
      `.execute(db);
      for (const row of rows) addTo(nextSettled, toFigures(row));
    }

    const { rows } = await sql<FigureRow & { is_settled: boolean }>`
      SELECT j.kind, t.to_status AS status, t.id <= ${nextLine}::bigint AS is_settled, ${finishedAggregates()}
      FROM transitions t JOIN claude_jobs j ON j.id = t.entity_id
      WHERE t.id > ${from}::bigint AND t.entity_type = 'CLAUDE_JOB' AND t.to_status IN (${terminal})
      GROUP BY j.kind, t.to_status, is_settled
    `.execute(db);
    const totals = new Map(nextSettled);
    for (const row of rows) {
      const figures = toFigures(row);
      if (first) subtractFrom(nextSettled, figures);
      else {
        if (row.is_settled) addTo(nextSettled, figures);
        addTo(totals, figures);
      }
    }
    const live = await readLiveJobs(db);
    settled = nextSettled;
    settledThrough = nextLine;
    return [...live, ...totals.values()];
  };

  // Reads one at a time: two folding at once would add the same settled jobs twice.
  let inFlight: Promise<JobFigures[]> | null = null;
  return {
    read() {
      inFlight ??= read().finally(() => {
        inFlight = null;
      });
      return inFlight;
    },
  };
}
