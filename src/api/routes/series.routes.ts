/**
 * GET /api/v1/stats/series: the fleet's recent past as time series, for the fleet page's plots
 * (src/metrics/history-series.ts computes them from the history table).
 *
 * Two things keep it cheap to poll. The closed buckets' figures are kept per (range, owner scope)
 * in this process (src/metrics/series-memo.ts), so a call reads only the history from the first
 * bucket not yet closed on (the first call of a scope reads the whole range). And answers are
 * kept a little while per (range, owner scope): every open fleet page polls, and without it N
 * pages would cost N statements per interval; with it they cost one. Concurrent calls for the
 * same key share one statement in flight. How long depends on the range (SERIES_RANGES keepMs:
 * 5 s for 1h, 15 s for 24h, 60 s for 7d): a small part of one bucket. Both go by the API's clock
 * (deps.clock), so a test that moves it is answered afresh.
 */
import { z } from '@hono/zod-openapi';
import { callerOf } from '../../auth/caller.js';
import { isAdmin } from '../../auth/principal.js';
import {
  type HistorySeries,
  loadHistorySeries,
  SERIES_RANGE_NAMES,
  SERIES_RANGES,
  type SeriesQuery,
  type SeriesRange,
} from '../../metrics/history-series.js';
import { createSeriesMemo } from '../../metrics/series-memo.js';
import { systemClock } from '../../util/clock.js';
import { createKeptAnswers, type KeptAnswers } from '../../util/kept-answers.js';
import type { ApiDeps } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { createRouter } from '../router.js';
import { json } from '../schemas/common.schemas.js';

const PerBucket = z.array(z.number());
const PerBucketOrNull = z.array(z.number().nullable());
const Percentiles = z.object({ p50: PerBucketOrNull, p95: PerBucketOrNull, p99: PerBucketOrNull });
const Usage = z.object({ cost_usd: PerBucket, input_tokens: PerBucket, output_tokens: PerBucket });

const Series = z
  .object({
    range: z.enum(SERIES_RANGE_NAMES),
    bucket_seconds: z.number().int().openapi({ description: '60 (1h), 600 (24h), 3600 (7d)' }),
    from: z.string().openapi({ description: 'the start of the first bucket' }),
    to: z.string().openapi({ description: 'now; the last bucket holds it' }),
    buckets: z
      .array(z.string())
      .openapi({ description: "each bucket's start, epoch-aligned (UTC); every per-bucket array is indexed like this one" }),
    throughput: z
      .record(z.string(), z.object({ done: PerBucket, failed: PerBucket }))
      .openapi({ description: 'kind -> jobs that reached done / failed in each bucket (a rate per minute: n / (bucket_seconds / 60))' }),
    queue_depth: z.record(z.string(), PerBucket).openapi({ description: "kind -> jobs queued at each bucket's end (the last: now)" }),
    wait_ms: Percentiles.openapi({
      description: 'enqueue to running, in ms, of the jobs that started running in each bucket (interpolated percentiles); null: none',
    }),
    run_ms: Percentiles.openapi({ description: 'running to done or failed, in ms, of the jobs that finished in each bucket; null: none' }),
    workers_alive: PerBucket.openapi({ description: "worker processes and pull-mode sessions alive at each bucket's end, fleet-wide" }),
    days: z.array(z.string()).openapi({ description: 'the UTC days (YYYY-MM-DD) the range touches, oldest first' }),
    cost_per_day: z.object({
      by_kind: z.record(z.string(), Usage).openapi({
        description: 'kind -> cost and tokens of the jobs that finished (done, failed, cancelled) on each day, the whole UTC day',
      }),
      by_owner: z.record(z.string(), Usage).optional().openapi({ description: 'owner -> the same; for admins only' }),
    }),
  })
  .openapi('FleetSeries');

export function seriesRoutes(deps: ApiDeps) {
  const app = createRouter();
  const clock = deps.clock ?? systemClock;
  // One store per range, each keeping its answers as long as its range allows.
  const answers = Object.fromEntries(
    SERIES_RANGE_NAMES.map((range) => [range, createKeptAnswers<HistorySeries>(SERIES_RANGES[range].keepMs, () => clock().getTime())]),
  ) as Record<SeriesRange, KeptAnswers<HistorySeries>>;
  const memo = createSeriesMemo();

  function seriesFor(query: Omit<SeriesQuery, 'now' | 'aliveWithin'>): Promise<HistorySeries> {
    // An owner id is free text: a separator or a '*' in it must not make it another scope's key
    // (an owner named '*' would be handed the fleet-wide answer). JSON keeps null apart from any string.
    // The memo's key is the same (range, owner, by-owner) as JSON: its own entry per scope too.
    const key = JSON.stringify([query.ownerId, query.byOwner]);
    return answers[query.range].get(key, () =>
      loadHistorySeries(
        deps.db,
        { ...query, now: clock(), aliveWithin: { processMs: deps.config.HEARTBEAT_MS * 3, pullMs: deps.config.PULL_LEASE_MS } },
        memo,
      ),
    );
  }

  app.openapi(
    authedRoute(['read', 'worker'], {
      method: 'get',
      path: '/stats/series',
      tags: ['fleet'],
      summary: "The fleet's recent past as time series: throughput, queue depth, wait and run percentiles, workers alive, cost per day",
      description:
        'Computed from the history of job transitions over the range: 1h (60 buckets of 60 s), 24h (144 of 600 s), 7d (168 of ' +
        '3600 s). A read token sees its own owner’s jobs only; admin and worker tokens every owner’s; cost per owner is for admins. ' +
        'Answers are kept 5 s (1h), 15 s (24h) or 60 s (7d). The figures of buckets that ended more than 2 minutes ago are kept ' +
        'by the API process and not read again: a call reads only the history since the first bucket not yet closed (the first ' +
        'call for a range and scope reads it whole). Kinds with no data in the range may be missing from each map: read them as zeros.',
      request: { query: z.object({ range: z.enum(SERIES_RANGE_NAMES, { error: 'must be one of 1h, 24h, 7d' }).default('1h') }) },
      responses: { 200: json(Series, 'The series') },
    }),
    async (c) => {
      const principal = c.get('principal');
      const series = await seriesFor({ range: c.req.valid('query').range, ownerId: callerOf(c).ownerId, byOwner: isAdmin(principal) });
      return c.json(series, 200);
    },
  );
  return app;
}
