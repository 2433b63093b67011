/**
 * The fleet's recent past as time series, for the dashboard's plots (GET /api/v1/stats/series):
 * throughput, queue depth, wait and run percentiles and workers alive per time bucket, and cost
 * and tokens per UTC day.
 *
 * Read from the history table (src/metrics/series-statement.ts). Given a memo (the API keeps one,
 * src/metrics/series-memo.ts), a call reads only what it has not kept: the transitions from the
 * first bucket not yet closed on (src/metrics/series-frame.ts CLOSE_MARGIN_MS), and takes the
 * closed buckets' figures and the days' usage up to there from the memo. So a call costs what
 * changed since the last one, not the whole range; the first call of a scope and range (and one
 * after a long pause) still reads the whole range, and without a memo every call does.
 *
 * What a closed bucket kept is not read again: history written later with an older created_at
 * (not something the fleet does: a transition takes its time when its transaction starts, and the
 * margin covers the wait for its commit) would show only in a memo-less computation. A job row's
 * cost, start or creation time changed after its transitions' buckets closed is likewise not
 * seen there (the fleet writes a job's cost with its outcome, in the same transaction), and the
 * workers alive at a closed bucket's end stay as counted when it closed (a worker whose beats
 * stopped past its lease and came back would otherwise count again, afterwards, as alive then).
 *
 * Queue depth stays exact: what is queued now (read fresh), less the net entries into QUEUED
 * after each bucket's end: the closed buckets' from the memo, the rest from this call's snapshot.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { isJobKind, type JobKind } from '../job-kinds.js';
import { jobKind } from '../spelling/api-spelling.js';
import { type SeriesFrame, type SeriesRange, seriesFrame } from './series-frame.js';
import {
  addUsage,
  type BucketFigures,
  copyDayUsage,
  type DayUsage,
  type SeriesMemo,
  type SeriesMemoState,
  type UsageSum,
} from './series-memo.js';
import { type SeriesQueryScope, type SeriesRow, type SeriesWindow, seriesStatement } from './series-statement.js';

export { SERIES_RANGE_NAMES, SERIES_RANGES, type SeriesRange, seriesFrame } from './series-frame.js';

export interface SeriesQuery extends SeriesQueryScope {
  range: SeriesRange;
  now: Date;
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

/** What this call read: the buckets from window.firstBucket on, and the usage it found, closed and open. */
interface FreshPart {
  buckets: BucketFigures[];
  /** Net entries into QUEUED per kind after `now` (committed since the clock was read). */
  queuedAfterNow: Map<string, number>;
  queuedNow: Map<string, number>;
  closedDays: Map<string, DayUsage>;
  openDays: Map<string, DayUsage>;
}

/** One memo entry per (range, owner scope, costs by owner): JSON, so no owner id can spell another scope. */
export function seriesMemoKey(query: Pick<SeriesQuery, 'range' | 'ownerId' | 'byOwner'>): string {
  return JSON.stringify([query.range, query.ownerId, query.byOwner]);
}

export async function loadHistorySeries(db: Db, query: SeriesQuery, memo?: SeriesMemo): Promise<HistorySeries> {
  const frame = seriesFrame(query.range, query.now);
  const key = seriesMemoKey(query);
  const kept = memo?.get(key);
  const base = kept && covers(kept, frame) ? kept : undefined;
  const window = readWindow(frame, base);
  // A week's history is a million rows: its join and its percentiles' sorts spill to disk under the
  // default work_mem. More memory for this statement alone (SET LOCAL ends with the transaction).
  const rows = await db.transaction().execute(async (trx) => {
    await sql`SET LOCAL work_mem = '64MB'`.execute(trx);
    // A read from the first open bucket is a few thousand rows: starting parallel workers for it
    // took longer than the read itself (BENCHMARKS.md). The whole range's read keeps them.
    if (base !== undefined) await sql`SET LOCAL max_parallel_workers_per_gather = 0`.execute(trx);
    return seriesStatement(query, query.now, frame, window).execute(trx);
  });
  const fresh = readRows(rows.rows, frame, window);
  memo?.replace(key, kept, nextState(frame, window, base, fresh));
  return assemble(query, frame, window, base, fresh);
}

const widthOf = (frame: SeriesFrame) => frame.bucketSeconds * 1000;

/**
 * Whether a kept state can serve this frame: not ahead of it (a clock moved back: its buckets may
 * hold what is after `now` here), not older than the first day (nothing of it is of use), and
 * holding every bucket of the range before where it ends.
 */
function covers(state: SeriesMemoState, frame: SeriesFrame): boolean {
  if (state.closedUntil > frame.closeAt.getTime() || state.closedUntil < frame.firstDay.getTime()) return false;
  for (let start = frame.from.getTime(); start < state.closedUntil; start += widthOf(frame)) {
    if (!state.buckets.has(start)) return false;
  }
  return true;
}

function readWindow(frame: SeriesFrame, base: SeriesMemoState | undefined): SeriesWindow {
  if (base === undefined) return { costFrom: frame.firstDay, readFrom: frame.from, firstBucket: 0 };
  const readFrom = Math.max(base.closedUntil, frame.from.getTime());
  return {
    costFrom: new Date(base.closedUntil),
    readFrom: new Date(readFrom),
    firstBucket: (readFrom - frame.from.getTime()) / widthOf(frame),
  };
}

const kindOf = (key: string | null) => {
  if (key === null || !isJobKind(key)) throw new Error(`history series: no API spelling for kind ${key}`);
  return jobKind.toApi(key as JobKind);
};

function readRows(rows: SeriesRow[], frame: SeriesFrame, window: SeriesWindow): FreshPart {
  const n = frame.buckets;
  const fresh: FreshPart = {
    buckets: Array.from({ length: n - window.firstBucket }, () => ({
      throughput: new Map(),
      queuedNet: new Map(),
      wait: null,
      run: null,
      workers: 0,
    })),
    queuedAfterNow: new Map(),
    queuedNow: new Map(),
    closedDays: new Map(),
    openDays: new Map(),
  };
  const bucket = (i: number | null) => (i === null || i < window.firstBucket || i >= n ? undefined : fresh.buckets[i - window.firstBucket]);
  for (const row of rows) {
    switch (row.part) {
      case 'done_failed':
        bucket(row.i)?.throughput.set(kindOf(row.key), { done: row.a ?? 0, failed: row.b ?? 0 });
        break;
      case 'queued_now':
        fresh.queuedNow.set(kindOf(row.key), row.a ?? 0);
        break;
      case 'queued_net':
        if (row.i === n) fresh.queuedAfterNow.set(kindOf(row.key), row.a ?? 0);
        else bucket(row.i)?.queuedNet.set(kindOf(row.key), row.a ?? 0);
        break;
      case 'wait':
      case 'run': {
        const figures = bucket(row.i);
        if (figures) figures[row.part] = [row.a, row.b, row.c];
        break;
      }
      case 'workers': {
        const figures = bucket(row.i);
        if (figures) figures.workers = row.a ?? 0;
        break;
      }
      case 'cost_kind':
      case 'cost_owner': {
        const day = row.i === null ? undefined : frame.days[row.i];
        if (day === undefined || row.key === null) break;
        const days = row.closed ? fresh.closedDays : fresh.openDays;
        const usage = days.get(day) ?? { byKind: new Map(), byOwner: new Map() };
        days.set(day, usage);
        const sum: UsageSum = { costMicros: row.a ?? 0, input: row.b ?? 0, output: row.c ?? 0 };
        if (row.part === 'cost_kind') addUsage(usage.byKind, kindOf(row.key), sum);
        else addUsage(usage.byOwner, row.key, sum);
        break;
      }
    }
  }
  return fresh;
}

/** The memo after this call: what it kept still in the range, and the buckets (and usage) that closed since. */
function nextState(frame: SeriesFrame, window: SeriesWindow, base: SeriesMemoState | undefined, fresh: FreshPart): SeriesMemoState {
  const from = frame.from.getTime();
  const width = widthOf(frame);
  const buckets = new Map([...(base?.buckets ?? [])].filter(([start]) => start >= from));
  const closeIndex = (frame.closeAt.getTime() - from) / width;
  for (let i = window.firstBucket; i < closeIndex; i += 1) buckets.set(from + i * width, fresh.buckets[i - window.firstBucket]!);
  const days = new Map<string, DayUsage>();
  for (const day of frame.days) {
    const kept = base?.days.get(day);
    const closed = fresh.closedDays.get(day);
    if (closed === undefined) {
      if (kept !== undefined) days.set(day, kept);
      continue;
    }
    const usage = copyDayUsage(kept);
    for (const [kind, sum] of closed.byKind) addUsage(usage.byKind, kind, sum);
    for (const [owner, sum] of closed.byOwner) addUsage(usage.byOwner, owner, sum);
    days.set(day, usage);
  }
  return { closedUntil: frame.closeAt.getTime(), buckets, days };
}

function assemble(
  query: SeriesQuery,
  frame: SeriesFrame,
  window: SeriesWindow,
  base: SeriesMemoState | undefined,
  fresh: FreshPart,
): HistorySeries {
  const n = frame.buckets;
  const from = frame.from.getTime();
  const width = widthOf(frame);
  const figures = Array.from({ length: n }, (_, i) =>
    i < window.firstBucket ? base!.buckets.get(from + i * width)! : fresh.buckets[i - window.firstBucket]!,
  );
  const zeros = () => new Array<number>(n).fill(0);
  const nulls = () => new Array<number | null>(n).fill(null);

  const throughput: HistorySeries['throughput'] = {};
  const wait: Percentiles = { p50: nulls(), p95: nulls(), p99: nulls() };
  const run: Percentiles = { p50: nulls(), p95: nulls(), p99: nulls() };
  const queueKinds = new Set([...fresh.queuedNow.keys(), ...fresh.queuedAfterNow.keys()]);
  figures.forEach((bucket, i) => {
    for (const [kind, counts] of bucket.throughput) {
      const series = (throughput[kind] ??= { done: zeros(), failed: zeros() });
      series.done[i] = counts.done;
      series.failed[i] = counts.failed;
    }
    for (const kind of bucket.queuedNet.keys()) queueKinds.add(kind);
    for (const [series, p] of [
      [wait, bucket.wait],
      [run, bucket.run],
    ] as const) {
      if (p === null) continue;
      series.p50[i] = p[0];
      series.p95[i] = p[1];
      series.p99[i] = p[2];
    }
  });

  // Depth at a bucket's end: what is queued now, less what entered the queue (net) after that end.
  const queueDepth: Record<string, number[]> = {};
  for (const kind of queueKinds) {
    const depth = zeros();
    let level = (fresh.queuedNow.get(kind) ?? 0) - (fresh.queuedAfterNow.get(kind) ?? 0);
    for (let i = n - 1; i >= 0; i -= 1) {
      depth[i] = level;
      level -= figures[i]!.queuedNet.get(kind) ?? 0;
    }
    if (depth.some((value) => value !== 0)) queueDepth[kind] = depth;
  }

  const byKind: Record<string, Usage> = {};
  const byOwner: Record<string, Usage> = {};
  frame.days.forEach((day, d) => {
    for (const part of [base?.days.get(day), fresh.closedDays.get(day), fresh.openDays.get(day)]) {
      if (part === undefined) continue;
      for (const [kind, sum] of part.byKind) addDay(byKind, kind, d, sum, frame.days.length);
      for (const [owner, sum] of part.byOwner) addDay(byOwner, owner, d, sum, frame.days.length);
    }
  });
  for (const usage of [...Object.values(byKind), ...Object.values(byOwner)]) {
    // Millionths of a dollar, summed exactly, to dollars: the nearest double to the exact sum.
    usage.cost_usd = usage.cost_usd.map((micros) => micros / 1_000_000);
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
    workers_alive: figures.map((bucket) => bucket.workers),
    days: frame.days,
    cost_per_day: query.byOwner ? { by_kind: byKind, by_owner: byOwner } : { by_kind: byKind },
  };
}

/** Adds a day's sum to a series (cost still in millionths). */
function addDay(map: Record<string, Usage>, key: string, d: number, sum: UsageSum, days: number): void {
  const usage = (map[key] ??= {
    cost_usd: new Array(days).fill(0),
    input_tokens: new Array(days).fill(0),
    output_tokens: new Array(days).fill(0),
  });
  usage.cost_usd[d]! += sum.costMicros;
  usage.input_tokens[d]! += sum.input;
  usage.output_tokens[d]! += sum.output;
}
