/**
 * One sweep of the fleet's loose ends, each step in its own transactions and safe to run while
 * workers work:
 * 1. stale claims: CLAIMED for longer than STALE_CLAIM_MS (or whose lease lapsed) go back to
 *    QUEUED and onto their queue, counting a requeue; past the retry cap they are FAILED;
 * 2. lost workers: RUNNING jobs whose lease lapsed are FAILED (`worker_lost`), with the failure's
 *    side effects, and per kind retried as a new job.
 *    A job's lease is its worker's (src/jobs/worker-lease.ts: lapsed LEASE_MS after the worker's
 *    last beat, or when it stopped) unless it has one of its own (pull mode: lease_expires_at);
 *    both steps find the two kinds through indexes of their own, never by reading every held job;
 * 3. superseded: a QUEUED job with a newer QUEUED job of the same kind and subject is SKIPPED
 *    (src/sweeper/superseded-jobs.ts: only subjects with a job new to QUEUED since the last sweep);
 * 4. providers: timed pauses whose time has passed end (PAUSED -> ACTIVE), and the pauses still in
 *    force are put on their queues again, in case Redis lost them;
 * 5. reconcile: every QUEUED job without a live queue entry (Redis restarted or lost its data,
 *    a crash between commit and add) is added again (src/sweeper/reconcile.ts: every QUEUED job
 *    when Redis may have lost data or a full check is due, else those new to QUEUED since the last);
 * 6. owners' caps: deliveries parked at a cap whose owner has a free slot again are promoted;
 * 7. schedules: every enabled schedule's job scheduler installed again when Redis lost it or holds
 *    an older revision, and schedulers without an enabled row removed (src/schedules);
 * 8. retention: job traffic older than its retention deleted, a bounded batch per walk (src/retention).
 */
// Installs the kind handlers and the job and run cascades a requeue or a lost worker sets off.
import '../kinds/index.js';
import { type Expression, type ExpressionBuilder, type SqlBool, sql } from 'kysely';
import type { Database, Db, Trx } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { addToQueues } from '../jobs/enqueue-jobs.js';
import { failLostJobs } from '../jobs/retry-jobs.js';
import { lapsedHolders } from '../jobs/worker-lease.js';
import type { Logger } from '../logger.js';
import { claudeJobMachine } from '../machines/index.js';
import type { JobQueues } from '../queues/job-queues.js';
import { transitionMany } from '../transitions/index.js';
import { JOB_KINDS, type JobKind } from '../job-kinds.js';
import { wakeParked } from '../fairness/parked-deliveries.js';
import { holdQueues, releaseQueues } from '../providers/provider-queues.js';
import { endDuePauses, holdOf, pausedProviders } from '../providers/provider-states.js';
import { reinstallSchedules } from '../schedules/index.js';
import { type AgeOutReport, ageOut, emptyAgeOutReport, type RetentionPolicy } from '../retention/index.js';
import { DEFAULT_FULL_INTERVAL_MS, reconcile } from './reconcile.js';
import type { FullCheckReason } from './redis-loss.js';
import { skipSuperseded } from './superseded-jobs.js';

export interface SweepDeps {
  db: Db;
  queues: JobQueues;
  logger: Logger;
  /** LEASE_MS: a worker process not heard from for this long has lost the jobs it held. */
  leaseMs: number;
  staleClaimMs: number;
  maxRetries: number;
  /** QUEUED rows younger than this are left to their enqueuer's own add. */
  reconcileGraceMs: number;
  /**
   * RECONCILE_FULL_INTERVAL_MS: reconcile and supersede look at every QUEUED job at least this
   * often, even with no sign that Redis lost data.
   * @defaultValue 1 hour
   */
  reconcileFullIntervalMs?: number | undefined;
  /**
   * How late an entry into QUEUED may commit after it was written and still be seen by the next
   * incremental step (src/sweeper/queued-since.ts).
   * @defaultValue 30 seconds
   */
  reconcileSlackMs?: number | undefined;
  /**
   * How many failed deliveries BullMQ keeps per queue (src/sweeper/given-up-deliveries.ts).
   * @defaultValue KEEP_FAILED.count
   */
  keepFailed?: number | undefined;
  /** OWNER_MAX_RUNNING, for waking deliveries parked at owners' caps (absent: no fleet-wide cap). */
  ownerMaxRunning?: number | null | undefined;
  /** HISTORY_RETENTION_DAYS, JOB_RETENTION_DAYS, RETENTION_BATCH (absent: only expired idempotency keys go). */
  retention?: RetentionPolicy | undefined;
}

export interface SweepReport extends AgeOutReport {
  requeued: number;
  exhausted: number;
  lost: number;
  retried: number;
  superseded: number;
  readded: number;
  /** Why reconcile checked every QUEUED job against Redis; null when it checked only those new to QUEUED. */
  fullCheck: FullCheckReason | null;
  resumedProviders: number;
  /** Deliveries parked at their owner's cap promoted because a slot of the owner is free. */
  woken: number;
  /** Schedulers installed again from their schedule's row (missing from Redis, or older). */
  schedulesInstalled: number;
  /** Schedulers removed for want of an enabled schedule. */
  schedulesRemoved: number;
}

const PAGE = 500;

export interface SweepOptions {
  /**
   * Whether steps 1 and 2 run: false right after an outage of Postgres, when leases lapsed because
   * nobody could renew them.
   * @defaultValue true
   */
  judgeLeases?: boolean;
  /**
   * Whether reconcile checks every QUEUED job whatever its marks in Redis say: after an outage of
   * Postgres, when deliveries whose claims could not reach it may have failed for good in BullMQ
   * while their rows stayed QUEUED. The report's `fullCheck` says whether it began.
   * @defaultValue false
   */
  afterPostgresOutage?: boolean;
}

/**
 * What makes a held job's lease lapsed: these workers' leases lapsed (LEASE_MS: a claim of its
 * worker's counts as a beat for that job, as the lease a claim gave a job did); past this age a
 * claim is stale.
 */
interface Lapse {
  workers: readonly string[];
  leaseMs: number;
  staleClaimMs?: number;
}

type HeldJobs = ExpressionBuilder<Database, 'claude_jobs'>;

/**
 * Each way a held job's lease lapses, one partial index each: its own lease ended
 * (claude_jobs_leased_idx), it hangs from a lapsed worker's or from none (claude_jobs_worker_held_idx),
 * its claim is stale (claude_jobs_claimed_idx).
 */
function lapses({ workers, leaseMs, staleClaimMs }: Lapse): ((eb: HeldJobs) => Expression<SqlBool>)[] {
  return [
    (eb) => eb('lease_expires_at', '<', sql<Date>`now()`),
    // Neither a lease of its own nor a worker to hang from: nothing could ever keep it.
    (eb) => eb.and([eb('lease_expires_at', 'is', null), eb('claimed_by_worker_id', 'is', null)]),
    ...(workers.length > 0
      ? [
          (eb: HeldJobs) =>
            eb.and([
              eb('lease_expires_at', 'is', null),
              eb('claimed_by_worker_id', 'in', [...workers]),
              // Judged again as locked: a claim that committed after its worker was judged lapsed
              // is younger than a lease, and its worker was alive when it claimed.
              sql<SqlBool>`(claude_jobs.claimed_at <= now() - ${leaseMs} * interval '1 millisecond'
                OR NOT EXISTS (SELECT 1 FROM workers AS w WHERE w.id = claude_jobs.claimed_by_worker_id AND w.stopped_at IS NULL))`,
            ]),
        ]
      : []),
    ...(staleClaimMs !== undefined
      ? [(eb: HeldJobs) => eb('claimed_at', '<', sql<Date>`now() - ${staleClaimMs} * interval '1 millisecond'`)]
      : []),
  ];
}

/**
 * A page of `status` jobs whose lease lapsed, locked (those another transaction holds are left to
 * the next sweep). Their ids are found first, each way of lapsing by its own index, so that no
 * sweep reads every held job; the rows are then locked by primary key and judged again as locked.
 */
async function lockLapsed(trx: Trx, status: 'CLAIMED' | 'RUNNING', lapse: Lapse): Promise<ClaudeJob[]> {
  const [first, ...rest] = lapses(lapse).map((lapsed) =>
    trx.selectFrom('claude_jobs').select('id').where('status', '=', status).where(lapsed),
  );
  const found = await rest
    .reduce((query, arm) => query.unionAll(arm), first!)
    .limit(PAGE)
    .execute();
  if (found.length === 0) return [];
  return trx
    .selectFrom('claude_jobs')
    .selectAll()
    .where('id', 'in', [...new Set(found.map((row) => row.id))])
    .where('status', '=', status)
    .where((eb) => eb.or(lapses(lapse).map((lapsed) => lapsed(eb))))
    .orderBy('claimed_at')
    .forUpdate()
    .skipLocked()
    .execute();
}

export async function sweep(deps: SweepDeps, { judgeLeases = true, afterPostgresOutage = false }: SweepOptions = {}): Promise<SweepReport> {
  const report: SweepReport = {
    requeued: 0,
    exhausted: 0,
    lost: 0,
    retried: 0,
    superseded: 0,
    readded: 0,
    fullCheck: null,
    resumedProviders: 0,
    woken: 0,
    schedulesInstalled: 0,
    schedulesRemoved: 0,
    ...emptyAgeOutReport(),
  };
  if (judgeLeases) {
    await requeueStaleClaims(deps, report);
    await failLostWorkers(deps, report);
  }
  report.superseded += await skipSuperseded({
    ...deps,
    fullIntervalMs: deps.reconcileFullIntervalMs ?? DEFAULT_FULL_INTERVAL_MS,
    slackMs: deps.reconcileSlackMs,
  });
  // Pauses first: after Redis lost everything, the jobs reconcile puts back must land on queues
  // already held, or a worker could take one before the hold is in place.
  await settleProviders(deps, report);
  Object.assign(report, await reconcile(deps, afterPostgresOutage ? 'postgres_outage' : null));
  await wakeCappedOwners(deps, report);
  const schedules = await reinstallSchedules(deps);
  report.schedulesInstalled = schedules.installed;
  report.schedulesRemoved = schedules.removed;
  await ageOut(deps, report);
  if (Object.values(report).some((count) => typeof count === 'number' && count > 0)) deps.logger.info(report, 'sweep repaired the fleet');
  return report;
}

/**
 * Redis made to say what Postgres says: the pauses in force held (again, after Redis lost them),
 * and every other kind's queue released, whoever held it last (a worker acting on a view of the
 * provider a moment older than an admin's resume, say).
 */
async function settleProviders(deps: SweepDeps, report: SweepReport) {
  const resumed = await endDuePauses(deps.db);
  for (const provider of resumed) deps.logger.info({ provider: provider.name }, 'provider resumed: its time to wait has passed');
  report.resumedProviders += resumed.length;
  const held = new Set<JobKind>();
  for (const provider of await pausedProviders(deps.db)) {
    const hold = holdOf(provider);
    await holdQueues(deps.queues, hold);
    for (const kind of hold.kinds) held.add(kind);
  }
  await releaseQueues(
    deps.queues,
    JOB_KINDS.filter((kind) => !held.has(kind)),
  );
}

async function requeueStaleClaims(deps: SweepDeps, report: SweepReport) {
  for (;;) {
    const requeued = await deps.db.transaction().execute(async (trx) => {
      const stale = await lockLapsed(trx, 'CLAIMED', {
        workers: await lapsedHolders(trx, deps),
        leaseMs: deps.leaseMs,
        staleClaimMs: deps.staleClaimMs,
      });
      const retry = stale.filter((job) => job.requeue_count < deps.maxRetries);
      const give = stale.filter((job) => job.requeue_count >= deps.maxRetries);
      const back = await transitionMany(
        trx,
        claudeJobMachine,
        retry.map((job) => ({
          id: job.id,
          from: 'CLAIMED' as const,
          to: 'QUEUED' as const,
          guard: { claim_epoch: job.claim_epoch },
          set: { requeue_count: job.requeue_count + 1, lease_expires_at: null },
          context: { reason: `claim by worker ${job.claimed_by_worker_id} went stale` },
        })),
      );
      const failed = await transitionMany(
        trx,
        claudeJobMachine,
        give.map((job) => ({
          id: job.id,
          from: 'CLAIMED' as const,
          to: 'FAILED' as const,
          guard: { claim_epoch: job.claim_epoch },
          set: {
            lease_expires_at: null,
            finished_at: new Date().toISOString(),
            error: {
              code: 'retries_exhausted',
              message: `claimed ${job.attempt_count} times without being started (cap ${deps.maxRetries} requeues)`,
            },
          },
          context: { reason: 'stale claims exhausted the retry cap' },
        })),
      );
      report.requeued += back.applied.length;
      report.exhausted += failed.applied.length;
      return { rows: back.applied.map((change) => change.row as ClaudeJob), seen: stale.length };
    });
    await addToQueues(deps, requeued.rows);
    if (requeued.seen < PAGE) return;
  }
}

async function failLostWorkers(deps: SweepDeps, report: SweepReport) {
  for (;;) {
    const outcome = await deps.db.transaction().execute(async (trx) => {
      const lost = await lockLapsed(trx, 'RUNNING', { workers: await lapsedHolders(trx, deps), leaseMs: deps.leaseMs });
      const result = await failLostJobs(trx, lost, {
        trigger: 'worker_lost',
        error: { code: 'worker_lost', message: 'the lease lapsed: its worker stopped renewing it' },
        maxRetries: deps.maxRetries,
        actorTokenId: null,
      });
      return { ...result, seen: lost.length };
    });
    report.lost += outcome.failed.length;
    report.retried += outcome.retries.length;
    await addToQueues(deps, outcome.retries);
    if (outcome.seen < PAGE) return;
  }
}

/** Slots freed by ends no worker saw (a cancel, a lost worker) wake their owners' parked deliveries. */
async function wakeCappedOwners(deps: SweepDeps, report: SweepReport) {
  try {
    report.woken += await wakeParked({ ...deps, ownerMaxRunning: deps.ownerMaxRunning ?? null }, null);
  } catch (error) {
    deps.logger.warn({ err: (error as Error).message }, 'could not wake parked deliveries; the next sweep tries again');
  }
}
