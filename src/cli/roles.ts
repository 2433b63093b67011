/**
 * The roles a process can play, each opening what it needs and registering its closers: a
 * worker pool, the sweeper (with the worker that fires schedules), and the HTTP API (in
 * api-role.ts, loaded only by the commands that serve it, so a worker process never loads the
 * HTTP stack). `start` plays all three in one process; `api`, `worker` and `sweeper` play one
 * each, to scale out.
 */
import type { Config } from '../config.js';
import type { Db } from '../db/database.js';
import { createExecutor } from '../executors/index.js';
import type { Logger } from '../logger.js';
import { createJobQueues, type JobQueues } from '../queues/job-queues.js';
import { createCancelPublisher } from '../queues/job-signals.js';
import type { JobKind } from '../queues/kinds.js';
import { queueLayoutOf } from '../queues/queue-layout.js';
import { createProducerConnection, type RedisClient, redisTargetOf } from '../queues/redis-connections.js';
import { retentionPolicyOf } from '../retention/index.js';
import { startScheduleFirings } from '../schedules/index.js';
import type { SweepDeps } from '../sweeper/sweep.js';
import { startSweeper } from '../sweeper/sweeper.js';
import { VERSION } from '../version.js';
import { startWorkerPool, type WorkerPool } from '../workers/worker-pool.js';
import type { Closers } from './lifecycle.js';

export interface Producer {
  connection: RedisClient;
  queues: JobQueues;
  publishCancel: ReturnType<typeof createCancelPublisher>;
}

export function openProducer(config: Config, closers: Closers, logger: Logger): Producer {
  const connection = createProducerConnection(redisTargetOf(config), logger);
  closers.add('redis producer', async () => void (await connection.quit().catch(() => connection.disconnect())));
  const queues = createJobQueues({ connection, layout: queueLayoutOf(config), logger });
  closers.add('queues', () => queues.close());
  return { connection, queues, publishCancel: createCancelPublisher(connection, config.BULLMQ_PREFIX, logger) };
}

export async function runWorkers(
  config: Config,
  db: Db,
  closers: Closers,
  logger: Logger,
  options: { kinds: readonly JobKind[]; concurrency: number; apiUrl?: string | undefined },
): Promise<WorkerPool> {
  const pool = await startWorkerPool({
    config,
    db,
    logger: logger.child({ role: 'worker' }),
    executor: await createExecutor(config),
    kinds: options.kinds,
    concurrency: options.concurrency,
    version: VERSION,
    apiUrl: config.API_URL ?? options.apiUrl ?? null,
  });
  closers.add('workers', () => pool.close(config.SHUTDOWN_TIMEOUT_MS));
  return pool;
}

/** What a sweep needs, as the configuration says: for the sweeper role and `sweeper --once` alike. */
export function sweepDepsOf(config: Config, db: Db, queues: JobQueues, logger: Logger): SweepDeps {
  return {
    db,
    queues,
    logger,
    leaseMs: config.LEASE_MS,
    staleClaimMs: config.STALE_CLAIM_MS,
    maxRetries: config.JOB_MAX_RETRIES,
    reconcileGraceMs: config.RECONCILE_GRACE_MS,
    reconcileFullIntervalMs: config.RECONCILE_FULL_INTERVAL_MS,
    ownerMaxRunning: config.OWNER_MAX_RUNNING ?? null,
    retention: retentionPolicyOf(config),
  };
}

export function runSweeper(config: Config, db: Db, producer: Producer, closers: Closers, logger: Logger): void {
  const sweeper = startSweeper({
    ...sweepDepsOf(config, db, producer.queues, logger),
    connectionString: config.DATABASE_URL,
    intervalMs: config.SWEEP_INTERVAL_MS,
    events: { redis: producer.connection, prefix: config.BULLMQ_PREFIX },
  });
  closers.add('sweeper', () => sweeper.close());
  // Every sweeper process fires schedules, the leader and those standing by alike.
  const firings = startScheduleFirings({
    db,
    queues: producer.queues,
    logger,
    redis: redisTargetOf(config),
    defaultDailyUsd: config.OWNER_DAILY_BUDGET_USD ?? null,
  });
  closers.add('schedule firings', () => firings.close());
}

/** How long closing may take: the workers' drain deadline plus time to write outcomes. */
export function closeDeadline(config: Config): number {
  return config.SHUTDOWN_TIMEOUT_MS + 20_000;
}
