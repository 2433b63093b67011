/**
 * The series labelled by owner: what each owner spent today, their running and queued jobs, and
 * their cap (SPEC "Fair shares and schedules"). They name one owner's figures, so they live in a
 * registry of their own that /metrics renders only for a token that may read every owner's jobs
 * (admin or worker), never for an anonymous scrape under METRICS_PUBLIC.
 *
 * Read from Postgres at scrape time like the fleet's other figures, and bounded: at most
 * MAX_OWNERS owners per series, the biggest first, which is what an alert needs.
 */
import { Gauge, type Registry } from 'prom-client';
import type { Db } from '../db/database.js';
import { type OwnerLoad, ownerLoads } from '../fairness/owner-caps.js';
import { type Clock, utcDay } from '../util/clock.js';
import { scrapeRead } from './scrape-read.js';

export const MAX_OWNERS = 1000;

export interface OwnerMetricsDeps {
  db: Db;
  clock: Clock;
  /** OWNER_MAX_RUNNING; null: owners without a cap of their own have none. */
  ownerMaxRunning: number | null;
  /** METRICS_KEEP_MS: how long one read answers scrapes. */
  keepMs: number;
}

export function registerOwnerMetrics(registry: Registry, deps: OwnerMetricsDeps): void {
  const { db, clock } = deps;
  const loads = scrapeRead(async () => biggestOwners(await ownerLoads(db, null, deps.ownerMaxRunning)), deps.keepMs);
  const spend = scrapeRead(
    () =>
      db
        .selectFrom('owner_daily_spend')
        .select(['owner_id', 'cost_usd'])
        .where('day', '=', utcDay(clock()))
        .orderBy('cost_usd', 'desc')
        .orderBy('owner_id')
        .limit(MAX_OWNERS)
        .execute(),
    deps.keepMs,
  );

  new Gauge({
    name: 'jobfleet_owner_spend_usd',
    help: "What each owner's jobs cost today (UTC day), in US dollars; the biggest spenders first, at most 1000 owners",
    labelNames: ['owner'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await spend()) this.set({ owner: row.owner_id }, Number(row.cost_usd));
    },
  });

  new Gauge({
    name: 'jobfleet_owner_jobs',
    help: "Each owner's jobs holding a claim (state running: claimed or running) and waiting (queued); the busiest first, at most 1000 owners",
    labelNames: ['owner', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const load of await loads()) {
        this.set({ owner: load.ownerId, state: 'running' }, load.running);
        this.set({ owner: load.ownerId, state: 'queued' }, load.queued);
      }
    },
  });

  new Gauge({
    name: 'jobfleet_owner_max_running',
    help: "Each owner's cap on jobs running at once (their own, or OWNER_MAX_RUNNING); owners without a cap have no series",
    labelNames: ['owner'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const load of await loads()) if (load.maxRunning !== null) this.set({ owner: load.ownerId }, load.maxRunning);
    },
  });
}

/** The MAX_OWNERS owners with the most jobs running or queued (ties by name, so a scrape is stable). */
function biggestOwners(loads: OwnerLoad[]): OwnerLoad[] {
  return loads.sort((a, b) => b.running + b.queued - (a.running + a.queued) || (a.ownerId < b.ownerId ? -1 : 1)).slice(0, MAX_OWNERS);
}
