/**
 * The one statement behind the dashboard's series (src/metrics/history-series.ts): the part of the
 * history a call has not kept yet, aggregated per bucket, plus what is queued now.
 *
 * One statement: one round trip, and one snapshot, so the queue depth (today's QUEUED count minus
 * what entered QUEUED since) cannot drift against the transitions it subtracts. The transitions
 * are filtered by created_at first (their BRIN index), so a call costs the window it reads, not
 * the table's whole past; jobs are joined by primary key.
 */
import { type RawBuilder, sql } from 'kysely';
import type { SeriesFrame } from './series-frame.js';

export interface SeriesWindow {
  /** Terminal transitions (the days' costs) from here: the first day's 00:00 UTC when nothing is kept. */
  costFrom: Date;
  /** Every other transition from here: the range's first bucket, or the first bucket not yet kept. */
  readFrom: Date;
  /** readFrom's bucket index: the workers are counted from this bucket on. */
  firstBucket: number;
}

export interface SeriesQueryScope {
  /** Only this owner's jobs; null for every owner's. */
  ownerId: string | null;
  /** Whether cost per day is also split by owner (admins only). */
  byOwner: boolean;
  /** How long after its last heartbeat a worker still counts as alive: a process, a pull-mode session. */
  aliveWithin: { processMs: number; pullMs: number };
}

/** One row of the statement's answer: `part` says which series it feeds, the rest is per part. */
export interface SeriesRow {
  part: 'done_failed' | 'queued_net' | 'queued_now' | 'wait' | 'run' | 'workers' | 'cost_kind' | 'cost_owner';
  key: string | null;
  /** The bucket (or, for cost, the day) index; past the last bucket for events after `now`, -1 before the first. */
  i: number | null;
  a: number | null;
  b: number | null;
  c: number | null;
  /** Cost rows: whether their transitions lie in closed buckets (before frame.closeAt). */
  closed: boolean | null;
}

/**
 * `ev` holds the window's job transitions (from readFrom on, with no upper bound: the queue depth
 * subtracts whatever happened after each bucket's end, also after `now`), each with its bucket
 * (those after `now` in one past the last), and the terminal ones from costFrom on (bucket -1
 * before the range): a day's cost is the whole day's, also before the range starts. One scan and
 * one join for both. Percentiles are interpolated (percentile_cont) in milliseconds. Costs are
 * summed in millionths of a dollar (the column's scale): whole numbers, which the caller adds
 * exactly to the ones it keeps.
 */
export function seriesStatement(scope: SeriesQueryScope, now: Date, frame: SeriesFrame, window: SeriesWindow): RawBuilder<SeriesRow> {
  const from = sql`${frame.from.toISOString()}::timestamptz`;
  const readFrom = sql`${window.readFrom.toISOString()}::timestamptz`;
  const at = sql`${now.toISOString()}::timestamptz`;
  const width = sql`${frame.bucketSeconds}::int`;
  const owner = scope.ownerId === null ? sql`` : sql`AND j.owner_id = ${scope.ownerId}`;
  const queuedOwner = scope.ownerId === null ? sql`` : sql`AND owner_id = ${scope.ownerId}`;
  // date_part, not extract: extract answers numeric, whose arithmetic was a fifth of a 7d call.
  const ms = (later: ReturnType<typeof sql.ref>, earlier: ReturnType<typeof sql.ref>) =>
    sql`(date_part('epoch', ${later} - ${earlier}) * 1000)`;
  const usage = sql`(sum(cost_usd) * 1000000)::float8, sum(input_tokens)::float8, sum(output_tokens)::float8, closed`;
  const costOwner = scope.byOwner
    ? sql`
      UNION ALL
      SELECT 'cost_owner', owner_id, d, ${usage} FROM fin GROUP BY owner_id, d, closed`
    : sql``;
  return sql<SeriesRow>`
    WITH ev AS MATERIALIZED (
      SELECT j.kind, j.owner_id, t.from_status, t.to_status,
        -- After now (committed since the clock was read): past the last bucket, whatever its end.
        CASE WHEN t.created_at > ${at} THEN ${frame.buckets}::int WHEN t.created_at < ${from} THEN -1
          ELSE floor(date_part('epoch', t.created_at - ${from}) / ${width})::int END AS i,
        CASE WHEN t.to_status IN ('DONE', 'FAILED', 'CANCELLED') AND t.created_at <= ${at}
          THEN ((t.created_at AT TIME ZONE 'UTC')::date - ${frame.days[0]}::date) END AS d,
        t.created_at < ${frame.closeAt.toISOString()}::timestamptz AS closed,
        CASE WHEN t.to_status = 'RUNNING' THEN ${ms(sql.ref('t.created_at'), sql.ref('j.created_at'))} END AS wait_ms,
        CASE WHEN t.from_status = 'RUNNING' AND t.to_status IN ('DONE', 'FAILED')
          THEN ${ms(sql.ref('t.created_at'), sql.ref('j.started_at'))} END AS run_ms,
        j.cost_usd, j.input_tokens, j.output_tokens
      FROM transitions t
      JOIN claude_jobs j ON j.id = t.entity_id
      WHERE t.created_at >= ${window.costFrom.toISOString()}::timestamptz AND t.entity_type = 'CLAUDE_JOB'
        AND (t.to_status IN ('DONE', 'FAILED', 'CANCELLED')
          OR (t.created_at >= ${readFrom} AND (t.to_status IN ('QUEUED', 'RUNNING') OR t.from_status = 'QUEUED'))) ${owner}
    ),
    fin AS (SELECT * FROM ev WHERE d IS NOT NULL),
    alive AS (
      SELECT started_at, coalesce(stopped_at, heartbeat_at + CASE WHEN mode = 'pull' THEN ${scope.aliveWithin.pullMs}::int
        ELSE ${scope.aliveWithin.processMs}::int END * interval '1 millisecond') AS until
      FROM workers WHERE started_at <= ${at}
    )
    SELECT 'done_failed' AS part, kind AS key, i,
      (count(*) FILTER (WHERE to_status = 'DONE'))::float8 AS a, (count(*) FILTER (WHERE to_status = 'FAILED'))::float8 AS b,
      NULL::float8 AS c, NULL::boolean AS closed
    FROM ev WHERE to_status IN ('DONE', 'FAILED') AND i >= 0 GROUP BY kind, i
    UNION ALL
    SELECT 'queued_net', kind, i,
      (count(*) FILTER (WHERE to_status = 'QUEUED') - count(*) FILTER (WHERE from_status = 'QUEUED'))::float8, NULL, NULL, NULL
    FROM ev WHERE (to_status = 'QUEUED' OR from_status = 'QUEUED') AND i >= 0 GROUP BY kind, i
    UNION ALL
    SELECT 'queued_now', kind, NULL, count(*)::float8, NULL, NULL, NULL
    FROM claude_jobs WHERE status = 'QUEUED' ${queuedOwner} GROUP BY kind
    UNION ALL
    SELECT 'wait', NULL, i, p[1], p[2], p[3], NULL FROM (
      SELECT i, percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY wait_ms) AS p
      FROM ev WHERE wait_ms IS NOT NULL AND i >= 0 GROUP BY i
    ) AS w
    UNION ALL
    SELECT 'run', NULL, i, p[1], p[2], p[3], NULL FROM (
      SELECT i, percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY run_ms) AS p
      FROM ev WHERE run_ms IS NOT NULL AND i >= 0 GROUP BY i
    ) AS r
    UNION ALL
    SELECT 'workers', NULL, g.i, count(alive.started_at)::float8, NULL, NULL, NULL
    FROM generate_series(${window.firstBucket}::int, ${frame.buckets - 1}::int) AS g(i)
    LEFT JOIN alive ON alive.started_at <= least(${from} + (g.i + 1) * ${width} * interval '1 second', ${at})
      AND alive.until >= least(${from} + (g.i + 1) * ${width} * interval '1 second', ${at})
    GROUP BY g.i
    UNION ALL
    SELECT 'cost_kind', kind, d, ${usage} FROM fin GROUP BY kind, d, closed
    ${costOwner}
  `;
}
