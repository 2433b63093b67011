/**
 * The fleet's recent past as time series, for the dashboard's plots (GET /api/v1/stats/series):
 * throughput, queue depth, wait and run percentiles and workers alive per time bucket, and cost
 * and tokens per UTC day.
 *
 * Everything is read from the history table in ONE statement: one round trip, and one snapshot, so
 * the queue depth (today's QUEUED count minus what entered QUEUED since) cannot drift against the
 * transitions it subtracts. The transitions are filtered by created_at first (their BRIN index),
 * so a call costs the range it shows, not the table's whole past; jobs are joined by primary key.
 *
 * Bucket boundaries are epoch-aligned (UTC) and half-open: an event at a bucket's start belongs
 * to that bucket, and a bucket's end state is the state just before the next bucket's first event.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { isJobKind, type JobKind } from '../job-kinds.js';
import { jobKind } from '../spelling/api-spelling.js';

/**
 * keepMs: how long an answer may be served again (src/api/routes/series.routes.ts). A small
 * fraction of a bucket, so a plot is never more than that behind, and long enough that open pages
 * cost the wider ranges' statements (BENCHMARKS.md: seconds for 7d at a million history rows)
 * rarely: 1/12, 1/40 and 1/60 of a bucket.
 */
export const SERIES_RANGES = {
  '1h': { buckets: 60, bucketSeconds: 60, keepMs: 5_000 },
  '24h': { buckets: 144, bucketSeconds: 600, keepMs: 15_000 },
  '7d': { buckets: 168, bucketSeconds: 3600, keepMs: 60_000 },
} as const;

export type SeriesRange = keyof typeof SERIES_RANGES;
export const SERIES_RANGE_NAMES = Object.keys(SERIES_RANGES) as [SeriesRange, ...SeriesRange[]];

export interface SeriesQuery {
  range: SeriesRange;
  now: Date;
  /** Only this owner's jobs; null for every owner's. */
  ownerId: string | null;
  /** Whether cost per day is also split by owner (admins only). */
  byOwner: boolean;
  /** How long after its last heartbeat a worker still counts as alive: a process, a pull-mode session. */
  aliveWithin: { processMs: number; pullMs: number };
}

type Percentiles = { p50: (number | null)[]; p95: (number | null)[]; p99: (number | null)[] };
type Usage = { cost_usd: number[]; input_tokens: number[]; output_tokens: number[] };

export interface HistorySeries {
  range: SeriesRange;
  bucket_seconds: number;
  from: string;
  to: string;
  buckets: string[];
  throughput: Record<string, { done: number[]; failed: number[] }>;
  queue_depth: Record<string, number[]>;
  wait_ms: Percentiles;
  run_ms: Percentiles;
  workers_alive: number[];
  days: string[];
  cost_per_day: { by_kind: Record<string, Usage>; by_owner?: Record<string, Usage> };
}

/** One row of the statement's answer: `part` says which series it feeds, the rest is per part. */
interface SeriesRow {
  part: 'done_failed' | 'queued_net' | 'queued_now' | 'wait' | 'run' | 'workers' | 'cost_kind' | 'cost_owner';
  key: string | null;
  /** The bucket (or, for cost, the day) index; past the last bucket for events after `now`. */
  i: number | null;
  a: number | null;
  b: number | null;
  c: number | null;
}

const DAY_MS = 86_400_000;

/** The buckets and days a range covers at `now`: the last bucket is the one holding `now`. */
export function seriesFrame(range: SeriesRange, now: Date) {
  const { buckets, bucketSeconds } = SERIES_RANGES[range];
  const width = bucketSeconds * 1000;
  const lastStart = Math.floor(now.getTime() / width) * width;
  const from = lastStart - (buckets - 1) * width;
  const firstDay = Math.floor(from / DAY_MS) * DAY_MS;
  const days: string[] = [];
  for (let day = firstDay; day <= now.getTime(); day += DAY_MS) days.push(new Date(day).toISOString().slice(0, 10));
  return {
    buckets,
    bucketSeconds,
    from: new Date(from),
    firstDay: new Date(firstDay),
    starts: Array.from({ length: buckets }, (_, i) => new Date(from + i * width).toISOString()),
    days,
  };
}

export async function loadHistorySeries(db: Db, query: SeriesQuery): Promise<HistorySeries> {
  const frame = seriesFrame(query.range, query.now);
  const n = frame.buckets;
  // A week's history is a million rows: its join and its percentiles' sorts spill to disk under the
  // default work_mem. More memory for this statement alone (SET LOCAL ends with the transaction).
  const rows = await db.transaction().execute(async (trx) => {
    await sql`SET LOCAL work_mem = '64MB'`.execute(trx);
    return sql<SeriesRow>`${seriesStatement(query, frame)}`.execute(trx);
  });

  const zeros = () => new Array<number>(n).fill(0);
  const nulls = () => new Array<number | null>(n).fill(null);
  const throughput: HistorySeries['throughput'] = {};
  const queuedNow = new Map<string, number>();
  const queuedNet = new Map<string, number[]>(); // per kind: net entries into QUEUED per bucket, the last slot for all after `now`'s bucket
  const wait: Percentiles = { p50: nulls(), p95: nulls(), p99: nulls() };
  const run: Percentiles = { p50: nulls(), p95: nulls(), p99: nulls() };
  const workers = zeros();
  const byKind: Record<string, Usage> = {};
  const byOwner: Record<string, Usage> = {};
  const usageOf = (map: Record<string, Usage>, key: string) => {
    map[key] ??= {
      cost_usd: new Array(frame.days.length).fill(0),
      input_tokens: new Array(frame.days.length).fill(0),
      output_tokens: new Array(frame.days.length).fill(0),
    };
    return map[key];
  };
  const kindOf = (key: string | null) => {
    if (key === null || !isJobKind(key)) throw new Error(`history series: no API spelling for kind ${key}`);
    return jobKind.toApi(key as JobKind);
  };

  for (const row of rows.rows) {
    const i = row.i ?? 0;
    switch (row.part) {
      case 'done_failed': {
        if (i < 0 || i >= n) break;
        const series = (throughput[kindOf(row.key)] ??= { done: zeros(), failed: zeros() });
        series.done[i] = row.a ?? 0;
        series.failed[i] = row.b ?? 0;
        break;
      }
      case 'queued_now':
        queuedNow.set(kindOf(row.key), row.a ?? 0);
        break;
      case 'queued_net': {
        const net = queuedNet.get(kindOf(row.key)) ?? new Array<number>(n + 1).fill(0);
        net[Math.min(Math.max(i, 0), n)]! += row.a ?? 0;
        queuedNet.set(kindOf(row.key), net);
        break;
      }
      case 'wait':
      case 'run': {
        if (i < 0 || i >= n) break;
        const series = row.part === 'wait' ? wait : run;
        series.p50[i] = row.a;
        series.p95[i] = row.b;
        series.p99[i] = row.c;
        break;
      }
      case 'workers':
        workers[i] = row.a ?? 0;
        break;
      case 'cost_kind':
      case 'cost_owner': {
        if (i < 0 || i >= frame.days.length || row.key === null) break;
        const usage = row.part === 'cost_kind' ? usageOf(byKind, kindOf(row.key)) : usageOf(byOwner, row.key);
        usage.cost_usd[i] = row.a ?? 0;
        usage.input_tokens[i] = row.b ?? 0;
        usage.output_tokens[i] = row.c ?? 0;
        break;
      }
    }
  }

  // Depth at a bucket's end: what is queued now, less what entered the queue (net) after that end.
  const queueDepth: Record<string, number[]> = {};
  for (const kind of new Set([...queuedNow.keys(), ...queuedNet.keys()])) {
    const net = queuedNet.get(kind) ?? new Array<number>(n + 1).fill(0);
    const depth = zeros();
    let level = (queuedNow.get(kind) ?? 0) - net[n]!;
    for (let i = n - 1; i >= 0; i -= 1) {
      depth[i] = level;
      level -= net[i]!;
    }
    if (depth.some((value) => value !== 0)) queueDepth[kind] = depth;
  }

  return {
    range: query.range,
    bucket_seconds: frame.bucketSeconds,
    from: frame.from.toISOString(),
    to: query.now.toISOString(),
    buckets: frame.starts,
    throughput,
    queue_depth: queueDepth,
    wait_ms: wait,
    run_ms: run,
    workers_alive: workers,
    days: frame.days,
    cost_per_day: query.byOwner ? { by_kind: byKind, by_owner: byOwner } : { by_kind: byKind },
  };
}

/**
 * The statement. `ev` holds the range's job transitions (from the first bucket's start on, with
 * no upper bound: the queue depth subtracts whatever happened after each bucket's end, also after
 * `now`), each with its bucket (those after `now` in one past the last), and the terminal ones
 * from the first day's 00:00 UTC on (bucket -1 before the range): a day's cost is the whole day's,
 * also before the range starts. One scan and one join for both: the join reads the jobs table
 * whole for any but the smallest ranges, and was the larger part of a call when done twice.
 * Percentiles are interpolated (percentile_cont) in milliseconds.
 */
function seriesStatement(query: SeriesQuery, frame: ReturnType<typeof seriesFrame>) {
  const from = sql`${frame.from.toISOString()}::timestamptz`;
  const now = sql`${query.now.toISOString()}::timestamptz`;
  const width = sql`${frame.bucketSeconds}::int`;
  const owner = query.ownerId === null ? sql`` : sql`AND j.owner_id = ${query.ownerId}`;
  const queuedOwner = query.ownerId === null ? sql`` : sql`AND owner_id = ${query.ownerId}`;
  // date_part, not extract: extract answers numeric, whose arithmetic was a fifth of a 7d call.
  const ms = (later: ReturnType<typeof sql.ref>, earlier: ReturnType<typeof sql.ref>) =>
    sql`(date_part('epoch', ${later} - ${earlier}) * 1000)`;
  const costOwner = query.byOwner
    ? sql`
      UNION ALL
      SELECT 'cost_owner', owner_id, d, sum(cost_usd)::float8, sum(input_tokens)::float8, sum(output_tokens)::float8
      FROM fin GROUP BY owner_id, d`
    : sql``;
  return sql`
    WITH ev AS MATERIALIZED (
      SELECT j.kind, j.owner_id, t.from_status, t.to_status,
        -- After now (committed since the clock was read): past the last bucket, whatever its end.
        CASE WHEN t.created_at > ${now} THEN ${frame.buckets}::int WHEN t.created_at < ${from} THEN -1
          ELSE floor(date_part('epoch', t.created_at - ${from}) / ${width})::int END AS i,
        CASE WHEN t.to_status IN ('DONE', 'FAILED', 'CANCELLED') AND t.created_at <= ${now}
          THEN ((t.created_at AT TIME ZONE 'UTC')::date - ${frame.days[0]}::date) END AS d,
        CASE WHEN t.to_status = 'RUNNING' THEN ${ms(sql.ref('t.created_at'), sql.ref('j.created_at'))} END AS wait_ms,
        CASE WHEN t.from_status = 'RUNNING' AND t.to_status IN ('DONE', 'FAILED')
          THEN ${ms(sql.ref('t.created_at'), sql.ref('j.started_at'))} END AS run_ms,
        j.cost_usd, j.input_tokens, j.output_tokens
      FROM transitions t
      JOIN claude_jobs j ON j.id = t.entity_id
      WHERE t.created_at >= ${frame.firstDay.toISOString()}::timestamptz AND t.entity_type = 'CLAUDE_JOB'
        AND (t.to_status IN ('DONE', 'FAILED', 'CANCELLED')
          OR (t.created_at >= ${from} AND (t.to_status IN ('QUEUED', 'RUNNING') OR t.from_status = 'QUEUED'))) ${owner}
    ),
    fin AS (SELECT * FROM ev WHERE d IS NOT NULL),
    alive AS (
      SELECT started_at, coalesce(stopped_at, heartbeat_at + CASE WHEN mode = 'pull' THEN ${query.aliveWithin.pullMs}::int
        ELSE ${query.aliveWithin.processMs}::int END * interval '1 millisecond') AS until
      FROM workers WHERE started_at <= ${now}
    )
    SELECT 'done_failed' AS part, kind AS key, i,
      (count(*) FILTER (WHERE to_status = 'DONE'))::float8 AS a, (count(*) FILTER (WHERE to_status = 'FAILED'))::float8 AS b, NULL::float8 AS c
    FROM ev WHERE to_status IN ('DONE', 'FAILED') AND i >= 0 GROUP BY kind, i
    UNION ALL
    SELECT 'queued_net', kind, i,
      (count(*) FILTER (WHERE to_status = 'QUEUED') - count(*) FILTER (WHERE from_status = 'QUEUED'))::float8, NULL, NULL
    FROM ev WHERE (to_status = 'QUEUED' OR from_status = 'QUEUED') AND i >= 0 GROUP BY kind, i
    UNION ALL
    SELECT 'queued_now', kind, NULL, count(*)::float8, NULL, NULL
    FROM claude_jobs WHERE status = 'QUEUED' ${queuedOwner} GROUP BY kind
    UNION ALL
    SELECT 'wait', NULL, i, p[1], p[2], p[3] FROM (
      SELECT i, percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY wait_ms) AS p
      FROM ev WHERE wait_ms IS NOT NULL AND i >= 0 GROUP BY i
    ) AS w
    UNION ALL
    SELECT 'run', NULL, i, p[1], p[2], p[3] FROM (
      SELECT i, percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY run_ms) AS p
      FROM ev WHERE run_ms IS NOT NULL AND i >= 0 GROUP BY i
    ) AS r
    UNION ALL
    SELECT 'workers', NULL, g.i, count(alive.started_at)::float8, NULL, NULL
    FROM generate_series(0, ${frame.buckets - 1}::int) AS g(i)
    LEFT JOIN alive ON alive.started_at <= least(${from} + (g.i + 1) * ${width} * interval '1 second', ${now})
      AND alive.until >= least(${from} + (g.i + 1) * ${width} * interval '1 second', ${now})
    GROUP BY g.i
    UNION ALL
    SELECT 'cost_kind', kind, d, sum(cost_usd)::float8, sum(input_tokens)::float8, sum(output_tokens)::float8
    FROM fin GROUP BY kind, d
    ${costOwner}
  `;
}
