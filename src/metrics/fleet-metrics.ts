/**
 * /metrics, in Prometheus text. Postgres is the truth, so the fleet's figures are read from it at
 * scrape time (every API process answers the same, whichever worker did the work); queue depths
 * come from BullMQ. The API process's own runtime metrics come from prom-client's defaults.
 *
 * Series labelled by owner (owner-metrics.ts) are kept in a registry apart: `render` includes
 * them, for a caller that may read every owner's figures; `renderPublic` leaves them out.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { type Clock, systemClock } from '../util/clock.js';
import { registerLimitMetrics } from './limit-metrics.js';
import { registerOwnerMetrics } from './owner-metrics.js';
import type { JobQueues } from '../queues/job-queues.js';
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
}

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;
export const DURATION_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600];

export function createFleetMetrics(deps: FleetMetricsDeps): FleetMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const { db, queues } = deps;

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

  new Gauge({
    name: 'jobfleet_jobs',
    help: 'Jobs by kind and status (Postgres)',
    labelNames: ['kind', 'status'],
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await db
        .selectFrom('claude_jobs')
        .select(['kind', 'status'])
        .select(sql<string>`count(*)`.as('count'))
        .groupBy(['kind', 'status'])
        .execute();
      for (const row of rows) this.set({ kind: jobKind.toApi(row.kind), status: claudeJobStatus.toApi(row.status) }, Number(row.count));
    },
  });

  new Counter({
    name: 'jobfleet_transitions_total',
    help: 'Status changes written, by entity and the status entered',
    labelNames: ['entity', 'status'],
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await db
        .selectFrom('transitions')
        .select(['entity_type', 'to_status'])
        .select(sql<string>`count(*)`.as('count'))
        .groupBy(['entity_type', 'to_status'])
        .execute();
      for (const row of rows) {
        const spelling = STATUS_SPELLING[row.entity_type] as { toApi(s: string): string };
        this.inc({ entity: entityType.toApi(row.entity_type), status: spelling.toApi(row.to_status) }, Number(row.count));
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
      const rows = await usage(db);
      for (const row of rows) {
        this.inc({ kind: jobKind.toApi(row.kind), direction: 'input' }, Number(row.input_tokens));
        this.inc({ kind: jobKind.toApi(row.kind), direction: 'output' }, Number(row.output_tokens));
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
      for (const row of await usage(db)) this.inc({ kind: jobKind.toApi(row.kind) }, Number(row.cost_usd));
    },
  });

  registry.registerMetric(durationHistogram(db) as never);

  const budgetRefusals = registerLimitMetrics(registry, db);

  const owners = new Registry();
  registerOwnerMetrics(owners, { db, clock: deps.clock ?? systemClock, ownerMaxRunning: deps.ownerMaxRunning ?? null });
  const everything = Registry.merge([registry, owners]);

  return {
    contentType: registry.contentType,
    render: () => everything.metrics(),
    renderPublic: () => registry.metrics(),
    recordBudgetRefusal: (count = 1) => budgetRefusals.inc(count),
  };
}

function usage(db: Db) {
  return db
    .selectFrom('claude_jobs')
    .select('kind')
    .select([
      sql<string>`coalesce(sum(input_tokens), 0)`.as('input_tokens'),
      sql<string>`coalesce(sum(output_tokens), 0)`.as('output_tokens'),
      sql<string>`coalesce(sum(cost_usd), 0)`.as('cost_usd'),
    ])
    .groupBy('kind')
    .execute();
}

/** How long finished jobs ran (started to finished), as a histogram read from Postgres. */
function durationHistogram(db: Db) {
  const name = 'jobfleet_job_duration_seconds';
  return {
    name,
    help: 'Run time of finished jobs (from start to done or failed), by kind',
    type: 'histogram',
    aggregator: 'sum',
    async get() {
      const rows = await db
        .selectFrom('claude_jobs')
        .select('kind')
        .select(sql<string>`count(*)`.as('count'))
        .select(sql<string>`sum(extract(epoch from finished_at - started_at))`.as('sum'))
        .select(
          DURATION_BUCKETS.map((le, i) =>
            sql<string>`count(*) FILTER (WHERE extract(epoch from finished_at - started_at) <= ${le})`.as(`b${i}`),
          ),
        )
        .where('status', 'in', ['DONE', 'FAILED'])
        .where('started_at', 'is not', null)
        .where('finished_at', 'is not', null)
        .groupBy('kind')
        .execute();
      const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
      for (const row of rows as unknown as Record<string, string>[]) {
        const kind = jobKind.toApi(row.kind as never);
        DURATION_BUCKETS.forEach((le, i) =>
          values.push({ metricName: `${name}_bucket`, labels: { kind, le }, value: Number(row[`b${i}`]) }),
        );
        values.push({ metricName: `${name}_bucket`, labels: { kind, le: '+Inf' }, value: Number(row.count) });
        values.push({ metricName: `${name}_sum`, labels: { kind }, value: Number(row.sum) });
        values.push({ metricName: `${name}_count`, labels: { kind }, value: Number(row.count) });
      }
      return { name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
    },
  };
}
