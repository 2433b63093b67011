/**
 * /metrics, in Prometheus text. Postgres is the truth, so the fleet's figures are read from it at
 * scrape time, whichever worker did the work: the live jobs afresh (every API process answers the
 * same), the finished jobs and the history as per process counters folded from where the previous
 * read ended (job-figures.ts, history-counts.ts); queue depths come from BullMQ. The API process's
 * own runtime metrics come from prom-client's defaults.
 *
 * Series labelled by owner (owner-metrics.ts) are kept in a registry apart: `render` includes
 * them, for a caller that may read every owner's figures; `renderPublic` leaves them out.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Db } from '../db/database.js';
import { type Clock, systemClock } from '../util/clock.js';
import { sql } from 'kysely';
import { registerLimitMetrics } from './limit-metrics.js';
import { registerOwnerMetrics } from './owner-metrics.js';
import { createHistoryCounts } from './history-counts.js';
import { createJobFigures, DURATION_BUCKETS, type JobFigures } from './job-figures.js';
import { scrapeRead } from './scrape-read.js';
import type { JobQueues } from '../queues/job-queues.js';
import type { JobKind } from '../job-kinds.js';
import type { ClaudeJobStatus } from '../machines/claude-job.machine.js';
import { JOB_KINDS } from '../queues/kinds.js';
import { claudeJobStatus, entityType, jobKind, STATUS_SPELLING } from '../spelling/api-spelling.js';

export interface FleetMetrics {
  readonly contentType: string;
  /** Every series, those labelled by owner too: for a token that may read every owner's jobs. */
  render(): Promise<string>;
  /** Every series but those labelled by owner: what an anonymous scrape (METRICS_PUBLIC) gets. */
  renderPublic(): Promise<string>;
  /**
   * Counts an enqueue refused because the owner's day is spent (409 budget_exhausted). Kept in
   * this API process's memory: each process counts the refusals it answered, as Prometheus
   * expects of a counter scraped per process.
   */
  recordBudgetRefusal(count?: number): void;
  /**
   * Every job counted by kind and status, from the scrape's own read (kept METRICS_KEEP_MS): the
   * live statuses counted afresh, the finished ones counted by this process as they finish (jobs
   * retention deleted since the process started stay counted). For the fleet's stats.
   */
  jobCounts(): Promise<{ kind: JobKind; status: ClaudeJobStatus; count: number }[]>;
}

export interface FleetMetricsDeps {
  db: Db;
  queues: JobQueues;
  /** A worker is live when its heartbeat is younger than three heartbeats. */
  heartbeatMs: number;
  /** Whose UTC day the owners' spend is of. @defaultValue systemClock */
  clock?: Clock;
  /** OWNER_MAX_RUNNING, the cap of owners without one of their own. @defaultValue null (none) */
  ownerMaxRunning?: number | null;
  /** METRICS_KEEP_MS: how long one read of the fleet's figures answers scrapes. @defaultValue 0 */
  keepMs?: number;
}

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;
export { DURATION_BUCKETS };

export function createFleetMetrics(deps: FleetMetricsDeps): FleetMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const { db, queues } = deps;
  const keepMs = deps.keepMs ?? 0;

  new Gauge({
    name: 'jobfleet_queue_jobs',
    help: "Jobs in each kind's BullMQ queue, by queue state",
    labelNames: ['kind', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(
        JOB_KINDS.map(async (kind) => {
          // A kind split over several queues counts them all.
          const shards = await Promise.all(queues.queuesOf(kind).map((queue) => queue.getJobCounts(...QUEUE_STATES)));
          for (const state of QUEUE_STATES) {
            this.set(
              { kind: jobKind.toApi(kind), state },
              shards.reduce((sum, counts) => sum + (counts[state] ?? 0), 0),
            );
          }
        }),
      );
    },
  });

  // The fleet's figures of one scrape are read once, shared by the collectors that use them, and
  // kept METRICS_KEEP_MS; finished jobs and the history are counted from where the previous read
  // ended, live jobs afresh from their partial indexes.
  const figures = createJobFigures(db);
  const jobFigures = scrapeRead(() => figures.read(), keepMs);
  const historyCounts = createHistoryCounts(db);
  const transitions = scrapeRead(() => historyCounts.read(), keepMs);

  new Gauge({
    name: 'jobfleet_jobs',
    help: 'Jobs by kind and status (Postgres)',
    labelNames: ['kind', 'status'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await jobFigures())
        this.set({ kind: jobKind.toApi(row.kind), status: claudeJobStatus.toApi(row.status) }, row.count);
    },
  });

  new Counter({
    name: 'jobfleet_transitions_total',
    help: 'Status changes written, by entity and the status entered',
    labelNames: ['entity', 'status'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await transitions()) {
        const spelling = STATUS_SPELLING[row.entity] as { toApi(s: string): string };
        this.inc({ entity: entityType.toApi(row.entity), status: spelling.toApi(row.status) }, row.count);
      }
    },
  });

  new Gauge({
    name: 'jobfleet_workers_live',
    help: 'Worker processes whose heartbeat is recent',
    registers: [registry],
    async collect() {
      const row = await db
        .selectFrom('workers')
        .select(sql<string>`count(*)`.as('count'))
        .where('stopped_at', 'is', null)
        .where('heartbeat_at', '>', sql<Date>`now() - ${deps.heartbeatMs * 3} * interval '1 millisecond'`)
        .executeTakeFirstOrThrow();
      this.set(Number(row.count));
    },
  });

  new Counter({
    name: 'jobfleet_agent_tokens_total',
    help: 'Tokens the agents used, by kind and direction (input, output)',
    labelNames: ['kind', 'direction'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await jobFigures()) {
        this.inc({ kind: jobKind.toApi(row.kind), direction: 'input' }, row.inputTokens);
        this.inc({ kind: jobKind.toApi(row.kind), direction: 'output' }, row.outputTokens);
      }
    },
  });

  new Counter({
    name: 'jobfleet_agent_cost_usd_total',
    help: 'What the agents cost, in US dollars, by kind',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await jobFigures()) this.inc({ kind: jobKind.toApi(row.kind) }, row.costUsd);
    },
  });

  registry.registerMetric(durationHistogram(jobFigures) as never);

  const budgetRefusals = registerLimitMetrics(registry, db, jobFigures);

  const owners = new Registry();
  registerOwnerMetrics(owners, { db, clock: deps.clock ?? systemClock, ownerMaxRunning: deps.ownerMaxRunning ?? null, keepMs });
  const everything = Registry.merge([registry, owners]);

  return {
    contentType: registry.contentType,
    render: () => everything.metrics(),
    renderPublic: () => registry.metrics(),
    recordBudgetRefusal: (count = 1) => budgetRefusals.inc(count),
    jobCounts: async () => (await jobFigures()).map(({ kind, status, count }) => ({ kind, status, count })),
  };
}

/** How long finished jobs ran (started to finished), as a histogram of the scrape's job figures. */
function durationHistogram(jobFigures: () => Promise<JobFigures[]>) {
  const name = 'jobfleet_job_duration_seconds';
  return {
    name,
    help: 'Run time of finished jobs (from start to done or failed), by kind',
    type: 'histogram',
    aggregator: 'sum',
    async get() {
      const byKind = new Map<string, { count: number; sum: number; buckets: number[] }>();
      for (const row of await jobFigures()) {
        if ((row.status !== 'DONE' && row.status !== 'FAILED') || row.timed === 0) continue;
        const kind = jobKind.toApi(row.kind);
        const into = byKind.get(kind) ?? { count: 0, sum: 0, buckets: DURATION_BUCKETS.map(() => 0) };
        into.count += row.timed;
        into.sum += row.secondsSum;
        row.buckets.forEach((n, i) => (into.buckets[i]! += n));
        byKind.set(kind, into);
      }
      const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
      for (const [kind, figures] of byKind) {
        DURATION_BUCKETS.forEach((le, i) =>
          values.push({ metricName: `${name}_bucket`, labels: { kind, le }, value: figures.buckets[i]! }),
        );
        values.push({ metricName: `${name}_bucket`, labels: { kind, le: '+Inf' }, value: figures.count });
        values.push({ metricName: `${name}_sum`, labels: { kind }, value: figures.sum });
        values.push({ metricName: `${name}_count`, labels: { kind }, value: figures.count });
      }
      return { name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
    },
  };
}
