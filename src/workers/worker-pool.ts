/**
 * A worker process's share of the fleet, wired here: one BullMQ Worker per kind it serves, the
 * group commits that batch its claims and outcomes (src/jobs/job-flushes.ts), the processor that
 * runs each delivery (job-processor.ts), its heartbeat, and its ear for cancel signals.
 *
 * Shutdown (close): stop taking deliveries, let running agents finish until the deadline, then
 * abort what is left and fail it (retried per kind as a new job), so a clean shutdown leaves
 * nothing CLAIMED or RUNNING; then deregister.
 */
import { UnrecoverableError, Worker } from 'bullmq';
import type { Config } from '../config.js';
import type { Db } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { loadJobTokens } from '../auth/job-token.js';
import type { Executor } from '../executors/executor.js';
import { addToQueues } from '../jobs/enqueue-jobs.js';
import { failUnrunnableJob } from '../jobs/fail-unrunnable-job.js';
import { createJobFlushes } from '../jobs/job-flushes.js';
import type { Logger } from '../logger.js';
import { createJobQueues, type QueuedJobData } from '../queues/job-queues.js';
import { subscribeToCancels } from '../queues/job-signals.js';
import { type JobKind, KINDS } from '../queues/kinds.js';
import { bullPrefixOf, queueLayoutOf, shardNamesOf } from '../queues/queue-layout.js';
import { createProducerConnection, redisTargetOf, workerConnection } from '../queues/redis-connections.js';
import { deliveryLockOptions } from './delivery-locks.js';
import { startHeartbeat } from './heartbeat.js';
import { createJobProcessor } from './job-processor.js';
import { RunningJobs } from './running-jobs.js';
import { deregisterWorker, registerWorker, type WorkerIdentity } from './worker-registry.js';
import { openWorkspaces } from '../workspaces/index.js';
import { anyOwnerBudget, budgetDay } from '../budgets/owner-budgets.js';
import { anyOwnerCap } from '../fairness/owner-caps.js';
import { noteParked, wakeParked } from '../fairness/parked-deliveries.js';
import { createSlotWaker } from '../fairness/slot-waker.js';
import { pollFlag } from '../util/polled-flag.js';
import { publishBudgetExceeded } from '../events/budget-notices.js';
import { noticeJob } from '../events/job-notices.js';
import { openProviderGate } from '../providers/provider-gate.js';
import { holdQueues, PAUSABLE_LIMITER } from '../providers/provider-queues.js';
import { pauseProvider } from '../providers/provider-states.js';
import { type Clock, systemClock } from '../util/clock.js';
import type { WorkspaceSettings } from '../kinds/index.js';

export interface WorkerPoolOptions {
  config: Pick<
    Config,
    | 'REDIS_URL'
    | 'REDIS_CLUSTER_NODES'
    | 'QUEUE_SHARDS'
    | 'BULLMQ_PREFIX'
    | 'LEASE_MS'
    | 'HEARTBEAT_MS'
    | 'AGENT_TIMEOUT_MS'
    | 'JOB_MAX_RETRIES'
    | 'WORKSPACE_ROOT'
    | 'WORKSPACE_GIT_AUTHOR'
    | 'WORKSPACE_CACHE_MAX_AGE_DAYS'
    | 'GIT_TIMEOUT_MS'
    | 'VERIFY_MAX_ATTEMPTS'
    | 'VERIFY_TIMEOUT_MS'
    | 'PROVIDER_RATE_LIMIT_DEFAULT_MS'
    | 'PROVIDER_BACKOFF_BASE_MS'
    | 'PROVIDER_BACKOFF_MAX_MS'
    | 'JOB_BUDGETS'
    | 'OWNER_DAILY_BUDGET_USD'
    | 'BUDGET_RECHECK_MS'
    | 'OWNER_MAX_RUNNING'
    | 'OWNER_CAP_RECHECK_MS'
  >;
  db: Db;
  logger: Logger;
  executor: Executor;
  kinds: readonly JobKind[];
  /** Jobs of each kind this process runs at once. */
  concurrency: number;
  version: string;
  /** The API's base URL agents reach its MCP server at (API_URL, or `start`'s own address); null: none. */
  apiUrl?: string | null | undefined;
  /** The time owners' daily budgets are judged by (tests move it to the next UTC day). */
  clock?: Clock;
}

export interface WorkerPool {
  readonly identity: WorkerIdentity;
  /** How many agents run here right now. */
  readonly active: number;
  /** Stops taking jobs; lets running ones finish for up to `deadlineMs`, then aborts them. */
  close(deadlineMs: number): Promise<void>;
}

export async function startWorkerPool(options: WorkerPoolOptions): Promise<WorkerPool> {
  const { config, db, logger, executor } = options;
  // Before registering: a worker that cannot keep workspaces refuses to start (WorkspaceRootError),
  // and what a killed predecessor left in them is salvaged before any new job runs.
  const workspaces = options.kinds.some((kind) => KINDS[kind].changesCode) ? await openWorkspaceSettings(config, logger) : null;
  const identity = await registerWorker(db, {
    kinds: options.kinds,
    concurrency: options.concurrency,
    version: options.version,
    provider: executor.provider,
  });
  const clock = options.clock ?? systemClock;
  const log = logger.child({ worker: identity.workerId });
  const running = new RunningJobs();
  const redis = redisTargetOf(config);
  const producer = createProducerConnection(redis, log);
  const layout = queueLayoutOf(config);
  const queues = createJobQueues({ connection: producer, layout, logger: log });
  let givenUp = false;

  const queueJobs = (jobs: readonly ClaudeJob[]) => addToQueues({ queues, logger: log }, jobs);
  const gate = openProviderGate({ db, provider: executor.provider, refreshMs: config.HEARTBEAT_MS, logger: log });
  // Owners' budgets and caps are judged only when configured or some owner has one of their own.
  const anyBudget = pollFlag(() => anyOwnerBudget(db), config.HEARTBEAT_MS);
  const anyCap = pollFlag(() => anyOwnerCap(db), config.HEARTBEAT_MS);
  const ownerMaxRunning = config.OWNER_MAX_RUNNING ?? null;
  const capRule = () => (ownerMaxRunning !== null || anyCap.get() ? { defaultMax: ownerMaxRunning } : null);
  const waker = createSlotWaker((owners) => wakeParked({ db, queues, logger: log, ownerMaxRunning }, owners), log);
  const flushes = createJobFlushes({
    db,
    identity,
    maxRetries: config.JOB_MAX_RETRIES,
    queueJobs,
    clock,
    budgetDay: () =>
      config.OWNER_DAILY_BUDGET_USD !== undefined || anyBudget.get() ? budgetDay(clock(), config.OWNER_DAILY_BUDGET_USD) : null,
    capRule,
  });
  const pauseSettings = {
    rateLimitDefaultMs: config.PROVIDER_RATE_LIMIT_DEFAULT_MS,
    backoffBaseMs: config.PROVIDER_BACKOFF_BASE_MS,
    backoffMaxMs: config.PROVIDER_BACKOFF_MAX_MS,
  };

  const heartbeat = startHeartbeat({ db, identity, running, intervalMs: config.HEARTBEAT_MS, logger: log });
  const cancels = await subscribeToCancels(redis, config.BULLMQ_PREFIX, log, (ids) => {
    const aborted = running.abort(ids, 'cancelled');
    if (aborted) log.info({ jobs: ids }, 'cancelled jobs; their agents were aborted');
  });

  const processor = createJobProcessor({
    db,
    logger: log,
    executor,
    identity,
    running,
    claims: flushes.claims,
    completions: flushes.completions,
    shutdowns: flushes.shutdowns,
    timeoutMs: config.AGENT_TIMEOUT_MS,
    queueJobs,
    failUnrunnable: (jobId, refusal) => db.transaction().execute((trx) => failUnrunnableJob(trx, jobId, refusal, identity.tokenId)),
    givenUp: () => givenUp,
    workspaces,
    channel: options.apiUrl ? { url: new URL('/mcp', options.apiUrl).toString(), tokens: await loadJobTokens(db) } : null,
    gate,
    async meetLimit(limit) {
      const { provider, retryAfterMs, message } = limit;
      const request = { provider, limit: limit.limit, retryAfterMs, message, kinds: options.kinds, actorTokenId: identity.tokenId };
      const { hold, paused } = await pauseProvider(db, request, pauseSettings);
      gate.learn(hold);
      if (paused) log.warn({ provider: hold.provider, reason: hold.reason, until: hold.resumeAt }, `provider paused: ${limit.message}`);
      return hold;
    },
    // This worker's own kinds too: a pause recorded before it started does not list them.
    holdQueues: (hold) => holdQueues(queues, { ...hold, kinds: [...new Set([...hold.kinds, ...options.kinds])] }),
    budgetDefaults: config.JOB_BUDGETS,
    budgetRecheckMs: config.BUDGET_RECHECK_MS,
    clock,
    async budgetExceeded(stopped) {
      for (const { job, exceeded } of stopped) log.info({ job: job.id, ...exceeded }, 'job stopped at its budget');
      const items = await Promise.all(stopped.map(async ({ job, exceeded }) => ({ job: await noticeJob(db, job.id), budget: exceeded })));
      await publishBudgetExceeded(producer, config.BULLMQ_PREFIX, items);
    },
    noteParked: (ownerId) => noteParked(queues, ownerId),
    capRecheckMs: config.OWNER_CAP_RECHECK_MS,
    released: (ownerId) => {
      if (capRule()) waker.released(ownerId);
    },
  });

  // A kind split over several queues is served by one BullMQ Worker per queue, its concurrency
  // shared out between them (each at least 1), since a Worker's concurrency is its own.
  const shards = options.kinds.flatMap((kind) => {
    const names = shardNamesOf(layout, kind);
    return names.map((name, index) => ({ kind, name, concurrency: shareOf(options.concurrency, names.length, index) }));
  });
  // Auto-pipelined: the deliveries a completion flush ends all go back to BullMQ at once, and
  // their scripts (each also fetching the next delivery) then share one write and one read.
  const connections = shards.map(() => workerConnection(redis, log, 'worker', { autoPipelining: true }));
  const workers = shards.map(({ kind, name, concurrency }, index) => {
    const worker = new Worker<QueuedJobData>(name, processor, {
      connection: connections[index]!.connection,
      prefix: bullPrefixOf(layout, name),
      concurrency,
      ...deliveryLockOptions({ leaseMs: config.LEASE_MS, heartbeatMs: config.HEARTBEAT_MS }),
      // Never limits by itself: it makes the workers honour a provider's pause (provider-queues.ts).
      limiter: PAUSABLE_LIMITER,
      // A worker waiting out a pause looks at its queue again every heartbeat, not only when the
      // pause was due to end: an admin's resume (or the end of a shortened pause) is felt at once.
      maximumRateLimitDelay: config.HEARTBEAT_MS,
    });
    worker.on('error', (error) => log.warn({ kind, queue: name, err: error.message }, 'worker error'));
    worker.on('failed', (job, error) => {
      // An unrecoverable failure is the job's own, already recorded in Postgres (job-processor.ts).
      const fields = { kind, delivery: job?.id, err: error.message };
      if (error instanceof UnrecoverableError) log.debug(fields, 'job failed, and so did its delivery');
      else log.warn(fields, 'delivery failed; BullMQ will retry it');
    });
    return worker;
  });
  log.info({ kinds: options.kinds, concurrency: options.concurrency }, 'worker started');

  return {
    identity,
    get active() {
      return running.size;
    },
    async close(deadlineMs) {
      log.info({ active: running.size, deadlineMs }, 'worker stopping: no new jobs; waiting for running ones');
      const closing = Promise.all(workers.map((worker) => worker.close()));
      const abortTimer = setTimeout(() => {
        const aborted = running.abortAll('shutdown');
        if (aborted) log.warn({ aborted }, 'shutdown deadline reached; aborting agents still running');
      }, deadlineMs);
      // Past the deadline and a grace for writing outcomes, stop waiting on an unreachable Postgres.
      const forceTimer = setTimeout(() => {
        givenUp = true;
        for (const worker of workers) void worker.close(true);
      }, deadlineMs + 15_000);
      try {
        await closing;
        await flushes.drain();
        await waker.drain();
      } finally {
        clearTimeout(abortTimer);
        clearTimeout(forceTimer);
      }
      await workspaces?.workspaces.close();
      await heartbeat.stop();
      gate.close();
      anyBudget.close();
      anyCap.close();
      await cancels.close();
      await deregisterWorker(db, identity).catch((error) => log.warn({ err: (error as Error).message }, 'could not deregister'));
      await queues.close();
      await Promise.all(connections.map((connection) => connection.close()));
      producer.disconnect();
      log.info('worker stopped');
    },
  };
}

/** The concurrency of one of a kind's `count` queues: the kind's, shared out evenly, at least 1 each. */
function shareOf(concurrency: number, count: number, index: number): number {
  return Math.max(1, Math.floor(concurrency / count) + (index < concurrency % count ? 1 : 0));
}

async function openWorkspaceSettings(config: WorkerPoolOptions['config'], logger: Logger): Promise<WorkspaceSettings> {
  const workspaces = await openWorkspaces({
    root: config.WORKSPACE_ROOT,
    gitAuthor: config.WORKSPACE_GIT_AUTHOR,
    gitTimeoutMs: config.GIT_TIMEOUT_MS,
    cacheMaxAgeDays: config.WORKSPACE_CACHE_MAX_AGE_DAYS,
    logger,
  });
  return { workspaces, verifyMaxAttempts: config.VERIFY_MAX_ATTEMPTS, verifyTimeoutMs: config.VERIFY_TIMEOUT_MS };
}
