/**
 * The three roles a process can play, each opening what it needs and registering its closers:
 * the HTTP API, a worker pool, the sweeper. `start` plays all three in one process; `api`,
 * `worker` and `sweeper` play one each, to scale out.
 */
import { serve } from '@hono/node-server';
import type { Redis } from 'ioredis';
import type { AddressInfo } from 'node:net';
import { createApp } from '../api/app.js';
import type { Server } from 'node:http';
import { attachEventSocket } from '../api/event-socket.js';
import { createAuthenticator } from '../auth/authenticator.js';
import { createEventHub } from '../events/event-hub.js';
import { createFleetMetrics } from '../metrics/fleet-metrics.js';
import { ensureConfiguredToken } from '../auth/token.repository.js';
import type { Config } from '../config.js';
import type { Db } from '../db/database.js';
import { createExecutor } from '../executors/index.js';
import type { Logger } from '../logger.js';
import { createJobQueues, type JobQueues } from '../queues/job-queues.js';
import { createCancelPublisher } from '../queues/job-signals.js';
import type { JobKind } from '../queues/kinds.js';
import { createProducerConnection } from '../queues/redis-connections.js';
import { startSweeper } from '../sweeper/sweeper.js';
import { VERSION } from '../version.js';
import { startWorkerPool, type WorkerPool } from '../workers/worker-pool.js';
import type { Closers } from './lifecycle.js';

export interface Producer {
  connection: Redis;
  queues: JobQueues;
  publishCancel: ReturnType<typeof createCancelPublisher>;
}

export function openProducer(config: Config, closers: Closers, logger: Logger): Producer {
  const connection = createProducerConnection(config.REDIS_URL, logger);
  closers.add('redis producer', async () => void (await connection.quit().catch(() => connection.disconnect())));
  const queues = createJobQueues({ connection, prefix: config.BULLMQ_PREFIX, logger });
  closers.add('queues', () => queues.close());
  return { connection, queues, publishCancel: createCancelPublisher(connection, config.BULLMQ_PREFIX, logger) };
}

/** Serves the API (HTTP, the event WebSocket); resolves with its base URL once it listens. */
export async function runApi(config: Config, db: Db, producer: Producer, closers: Closers, logger: Logger): Promise<string> {
  if (config.ADMIN_TOKEN) await ensureConfiguredToken(db, 'ADMIN_TOKEN', config.ADMIN_TOKEN);
  const dashboard =
    config.DASHBOARD_USER && config.DASHBOARD_PASSWORD
      ? {
          user: config.DASHBOARD_USER,
          password: config.DASHBOARD_PASSWORD,
          tokenId: await ensureConfiguredToken(db, 'DASHBOARD', `${config.DASHBOARD_USER}:${config.DASHBOARD_PASSWORD}`),
        }
      : null;
  const apiLogger = logger.child({ role: 'api' });
  const events = await createEventHub(config.REDIS_URL, config.BULLMQ_PREFIX, apiLogger);
  const deps = {
    config,
    db,
    redis: producer.connection,
    queues: producer.queues,
    signals: producer.publishCancel,
    auth: createAuthenticator(db, dashboard),
    events,
    metrics: createFleetMetrics({ db, queues: producer.queues, heartbeatMs: config.HEARTBEAT_MS }),
    logger: apiLogger,
  };
  const app = createApp(deps);
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, () => resolve(s));
    s.once('error', reject);
  });
  const socket = attachEventSocket(server as unknown as Server, deps);
  closers.add('http server', async () => {
    // Event streams never end on their own: close them first, then stop listening.
    await events.close();
    await socket.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  const host = config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;
  return `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
}

export async function runWorkers(
  config: Config,
  db: Db,
  closers: Closers,
  logger: Logger,
  options: { kinds: readonly JobKind[]; concurrency: number },
): Promise<WorkerPool> {
  const pool = await startWorkerPool({
    config,
    db,
    logger: logger.child({ role: 'worker' }),
    executor: createExecutor(config),
    kinds: options.kinds,
    concurrency: options.concurrency,
    version: VERSION,
  });
  closers.add('workers', () => pool.close(config.SHUTDOWN_TIMEOUT_MS));
  return pool;
}

export function runSweeper(config: Config, db: Db, producer: Producer, closers: Closers, logger: Logger): void {
  const sweeper = startSweeper({
    db,
    queues: producer.queues,
    logger,
    connectionString: config.DATABASE_URL,
    intervalMs: config.SWEEP_INTERVAL_MS,
    staleClaimMs: config.STALE_CLAIM_MS,
    maxRetries: config.JOB_MAX_RETRIES,
    reconcileGraceMs: config.RECONCILE_GRACE_MS,
    events: { redis: producer.connection, prefix: config.BULLMQ_PREFIX },
  });
  closers.add('sweeper', () => sweeper.close());
}

/** How long closing may take: the workers' drain deadline plus time to write outcomes. */
export function closeDeadline(config: Config): number {
  return config.SHUTDOWN_TIMEOUT_MS + 20_000;
}
