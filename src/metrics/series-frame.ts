/**
 * The time frame of the dashboard's series (GET /api/v1/stats/series): per range, its buckets and
 * the UTC days it touches, and which of its buckets are closed (their figures can no longer change).
 *
 * Bucket boundaries are epoch-aligned (UTC) and half-open: an event at a bucket's start belongs
 * to that bucket. Every bucket width divides a day, so no bucket straddles two UTC days.
 */

/**
 * keepMs: how long an answer may be served again (src/api/routes/series.routes.ts). A small
 * fraction of a bucket, so a plot is never more than that behind, and long enough that open pages
 * cost the statement rarely: 1/12, 1/40 and 1/60 of a bucket.
 */
export const SERIES_RANGES = {
  '1h': { buckets: 60, bucketSeconds: 60, keepMs: 5_000 },
  '24h': { buckets: 144, bucketSeconds: 600, keepMs: 15_000 },
  '7d': { buckets: 168, bucketSeconds: 3600, keepMs: 60_000 },
} as const;

export type SeriesRange = keyof typeof SERIES_RANGES;
export const SERIES_RANGE_NAMES = Object.keys(SERIES_RANGES) as [SeriesRange, ...SeriesRange[]];

/**
 * A bucket is closed once its end is this far in the past. A transition takes its created_at at
 * its transaction's START (now() in Postgres), but becomes visible only when that transaction
 * commits: a row can appear a little after its own time, into a bucket that already looked
 * finished. The fleet's transactions that write history (claims, outcomes, a batch of enqueues)
 * last milliseconds to seconds; two minutes is far beyond any of them, and still a small part of
 * the 1h range (the figures of the last 2 to 3 buckets are read afresh on every call). It also
 * covers a small skew between the API host's clock (which says when a bucket ended) and
 * Postgres' (which stamps the rows); a skew beyond it would leave late rows out of closed buckets.
 */
export const CLOSE_MARGIN_MS = 120_000;

const DAY_MS = 86_400_000;

export interface SeriesFrame {
  buckets: number;
  bucketSeconds: number;
  /** The first bucket's start. */
  from: Date;
  /** 00:00 UTC of the first bucket's day: a day's cost is the whole day's, also before `from`. */
  firstDay: Date;
  /** Each bucket's start, ISO. */
  starts: string[];
  /** The UTC days the range touches, YYYY-MM-DD, oldest first. */
  days: string[];
  /** Where the closed buckets end: buckets starting before it ended CLOSE_MARGIN_MS or more before now. */
  closeAt: Date;
}

/** The buckets and days a range covers at `now`: the last bucket is the one holding `now`. */
export function seriesFrame(range: SeriesRange, now: Date): SeriesFrame {
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
    closeAt: new Date(Math.max(from, Math.floor((now.getTime() - CLOSE_MARGIN_MS) / width) * width)),
  };
}
