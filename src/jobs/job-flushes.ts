/**
 * The batches a worker's deliveries share, each one transaction for many jobs (group commits):
 * - claims: QUEUED -> CLAIMED -> RUNNING for the batch (claim-jobs.ts) and the kinds' prompts;
 * - completions: the outcomes under their leases and the kinds' results (finish-jobs.ts);
 * - shutdowns: jobs whose agent a shutdown stopped, failed and per kind retried (retry-jobs.ts).
 * Jobs these transactions create (retries, jobs a kind enqueued) go to their queues after commit.
 */
import type { Db, Trx } from '../db/database.js';
import { isPostgresUnavailable } from '../db/postgres-unavailable.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { AppError } from '../errors/app-error.js';
import type { Prompt } from '../executors/executor.js';
import { type BudgetDay, type OwnerDay, productOwnerDays } from '../budgets/owner-budgets.js';
import { type Clock, utcDay } from '../util/clock.js';
import { groupBy } from '../util/group-by.js';
import { createGroupCommit, type FlushResult, type GroupCommit } from '../util/group-commit.js';
import { type CapRefusal, admitWithinCaps } from '../fairness/owner-caps.js';
import { type ClaimOptions, claimDeliveries, claimJobs, type WorkerIdentity } from './claim-jobs.js';
import { type Completion, finishJobs } from './finish-jobs.js';
import { installedHandlerOf } from './installed-kinds.js';
import { explainLeaseRefusal } from './job-lease.js';
import { failLostJobs } from './retry-jobs.js';

/** A job this worker claimed, with the prompt its kind built for it and its owner's day (when budgets are on). */
export interface ClaimedJob {
  job: ClaudeJob;
  prompt: Prompt;
  owner?: OwnerDay;
}

/** A delivery whose job stays QUEUED: its owner's slots are all taken (src/fairness/owner-caps.ts). */
export interface CappedClaim {
  capped: CapRefusal;
}

/** What a claim answers a delivery: its job, a wait for its owner's slot, or nothing (a second delivery). */
export type ClaimAnswer = ClaimedJob | CappedClaim | null;

/** Owners' caps as claims judge them: OWNER_MAX_RUNNING (null: none) under owners' own rows. */
export interface CapRule {
  defaultMax: number | null;
}

export interface JobFlushDeps {
  db: Db;
  identity: WorkerIdentity;
  maxRetries: number;
  /** Adds committed QUEUED jobs to their queues; called after each commit, never inside it. */
  queueJobs(jobs: readonly ClaudeJob[]): Promise<void>;
  clock: Clock;
  /**
   * Owners' days are judged at claim when this answers a BudgetDay (OWNER_DAILY_BUDGET_USD is set or
   * some owner has a budget), and not at all otherwise: a fleet without budgets pays nothing.
   */
  budgetDay(): BudgetDay | null;
  /**
   * Owners' caps are judged at claim when this answers a rule (OWNER_MAX_RUNNING is set or some
   * owner has a cap), and not at all otherwise.
   */
  capRule(): CapRule | null;
}

export interface JobFlushes {
  claims: GroupCommit<string, ClaimAnswer>;
  completions: GroupCommit<Completion, void>;
  /** Fails (and per kind retries) jobs whose agent was stopped by shutdown. */
  shutdowns: GroupCommit<ClaudeJob, void>;
  /** Waits until every submitted item is written. */
  drain(): Promise<void>;
}

/** A worker process's claims hang from its own lease (src/jobs/worker-lease.ts) and start at once. */
const WORKER_CLAIM: ClaimOptions = { leaseMs: null, start: true };

/** Claims and outcomes batch up to this many rows per statement. */
const MAX_BATCH = 250;

export function createJobFlushes(deps: JobFlushDeps): JobFlushes {
  const { db, identity } = deps;

  // Claims keep two flushes in flight so a new job need not wait out a whole flush before it
  // starts (one doubled the start latency in the bench); outcomes take one at a time, which
  // makes their batches bigger and the whole fleet faster (BENCHMARKS.md).
  const claims = createGroupCommit<string, ClaimAnswer>({
    maxBatch: MAX_BATCH,
    maxInFlight: 2,
    failsEveryItem: isPostgresUnavailable,
    flush: (ids) =>
      db.transaction().execute(async (trx) => {
        const rule = deps.capRule();
        const { claimed, unseen, capped } = rule
          ? await claimWithinCaps(trx, ids, identity, WORKER_CLAIM, rule)
          : { ...(await claimDeliveries(trx, ids, identity, WORKER_CLAIM)), capped: NONE_CAPPED };
        const prompts = new Map<string, ClaimedJob>();
        const budget = claimed.length > 0 ? deps.budgetDay() : null;
        const owners = budget
          ? await productOwnerDays(
              trx,
              claimed.map((job) => job.product_id),
              budget,
            )
          : null;
        for (const [kind, jobs] of groupBy(claimed, (job) => job.kind)) {
          const built = await installedHandlerOf(kind).buildPrompts(trx, jobs);
          for (const job of jobs) {
            const owner = owners?.get(job.product_id);
            prompts.set(job.id, { job, prompt: built.get(job.id)!, ...(owner ? { owner } : {}) });
          }
        }
        // Two deliveries of one job in one batch: the claim goes to the first, the other is dropped.
        const handedOut = new Set<string>();
        const notYet = new Set(unseen);
        return ids.map((id): FlushResult<ClaimAnswer> => {
          // Failing the delivery makes BullMQ deliver it again after a backoff, by when the row is there.
          if (notYet.has(id)) {
            return { ok: false, error: new AppError('service_unavailable', `job ${id} is not visible yet; its delivery is retried`) };
          }
          const refusal = capped.get(id);
          if (refusal) return { ok: true, value: { capped: refusal } };
          const claim = handedOut.has(id) ? undefined : prompts.get(id);
          handedOut.add(id);
          return { ok: true, value: claim ?? null };
        });
      }),
  });

  const completions = createGroupCommit<Completion, void>({
    maxBatch: MAX_BATCH,
    maxInFlight: 1,
    failsEveryItem: isPostgresUnavailable,
    async flush(items) {
      const { refused, enqueued } = await db.transaction().execute((trx) => finishJobs(trx, items, { day: utcDay(deps.clock()) }));
      await deps.queueJobs(enqueued);
      const refusedItems = new Set(refused);
      return Promise.all(
        items.map(async (item): Promise<FlushResult<void>> => {
          if (!refusedItems.has(item)) return { ok: true, value: undefined };
          return { ok: false, error: await explainLeaseRefusal(db, item.lease, 'RUNNING') };
        }),
      );
    },
  });

  const shutdowns = createGroupCommit<ClaudeJob, void>({
    maxBatch: MAX_BATCH,
    maxInFlight: 1,
    failsEveryItem: isPostgresUnavailable,
    async flush(jobs) {
      const { retries } = await db.transaction().execute((trx) =>
        failLostJobs(trx, jobs, {
          trigger: 'agent_failed',
          error: { code: 'worker_shutdown', message: 'the worker shut down before the agent finished' },
          maxRetries: deps.maxRetries,
          actorTokenId: identity.tokenId,
        }),
      );
      await deps.queueJobs(retries);
      return jobs.map(() => ({ ok: true, value: undefined }));
    },
  });

  return {
    claims,
    completions,
    shutdowns,
    drain: async () => {
      await Promise.all([claims.drain(), completions.drain(), shutdowns.drain()]);
    },
  };
}

const NONE_CAPPED: ReadonlyMap<string, CapRefusal> = new Map();

/**
 * The claim when owners' caps apply: only jobs within their owners' free slots are claimed, under
 * the owners' locks (admitWithinCaps); the rest are answered capped. Unlike claimDeliveries it
 * does not read refused ids again: an id is judged only as the admission saw it.
 */
async function claimWithinCaps(trx: Trx, ids: readonly string[], identity: WorkerIdentity, options: ClaimOptions, rule: CapRule) {
  const admission = await admitWithinCaps(trx, ids, rule.defaultMax);
  const { claimed } = admission.admitted.length > 0 ? await claimJobs(trx, admission.admitted, identity, options) : { claimed: [] };
  return { claimed, unseen: admission.unseen, capped: admission.capped };
}
