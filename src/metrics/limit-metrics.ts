/**
 * The metrics of provider limits and budgets (SPEC "Provider limits and budgets"). Read from
 * Postgres at scrape time like the fleet's other figures, so every API process answers the same:
 * each provider's state and pauses, and the jobs stopped at a budget (what each owner spent today
 * is labelled by owner: owner-metrics.ts). Refused enqueues are the exception: only the API
 * process that refused one knows of it, so that counter lives in the process's memory.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Db } from '../db/database.js';
import { PROVIDER_LIMITS } from '../errors/provider-limit.js';
import { jobKind } from '../spelling/api-spelling.js';
import type { JobFigures } from './job-figures.js';

/** Series are bounded: a fleet has a handful of providers. */
const MAX_PROVIDERS = 100;

/**
 * Registers the metrics; returns the refusal counter the enqueue route increments. The jobs
 * stopped at a budget come from the scrape's one read of the jobs (job-figures.ts).
 */
export function registerLimitMetrics(registry: Registry, db: Db, jobFigures: () => Promise<JobFigures[]>): Counter {
  new Gauge({
    name: 'jobfleet_provider_paused',
    help: 'Whether each provider is paused (1) or not (0), for each reason a pause can have',
    labelNames: ['provider', 'reason'],
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await db.selectFrom('providers').select(['name', 'status', 'reason']).orderBy('name').limit(MAX_PROVIDERS).execute();
      // A state set: one series per reason, so an alert can ask for a spend limit alone.
      for (const row of rows)
        for (const reason of PROVIDER_LIMITS)
          this.set({ provider: row.name, reason }, row.status === 'PAUSED' && row.reason === reason ? 1 : 0);
    },
  });

  new Counter({
    name: 'jobfleet_provider_pauses_total',
    help: 'Pauses each provider has had (rate limits, overloads, spend limits)',
    labelNames: ['provider'],
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await db.selectFrom('providers').select(['name', 'pause_count']).orderBy('name').limit(MAX_PROVIDERS).execute();
      for (const row of rows) this.inc({ provider: row.name }, row.pause_count);
    },
  });

  new Counter({
    name: 'jobfleet_jobs_budget_exceeded_total',
    help: 'Jobs stopped at a budget ceiling (failed budget_exceeded), by kind',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await jobFigures())
        if (row.status === 'FAILED' && row.budgetExceeded > 0) this.inc({ kind: jobKind.toApi(row.kind) }, row.budgetExceeded);
    },
  });

  return new Counter({
    name: 'jobfleet_budget_refusals_total',
    help: "Enqueues this API process refused because the owner's daily budget is spent (409 budget_exhausted)",
    registers: [registry],
  });
}
