/**
 * One test file's world: its own database (cloned from the template), its own BullMQ prefix,
 * the configuration that points at both, and cleanup of everything it made in Redis.
 *
 * In the `cluster` project the file's Redis is the run's shared Redis Cluster
 * (test/setup/cluster-setup.ts): REDIS_CLUSTER_NODES goes into `env` and `config`, so the parts
 * a test runs in its own process and the `jobfleet` processes it spawns from `env` all use it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { inject } from 'vitest';
import { type Config, loadConfig } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { type QueueLayout, queueLayoutOf } from '../../src/queues/queue-layout.js';
import { type RedisTarget, redisTargetOf } from '../../src/queues/redis-connections.js';
import { TEST_REDIS_PREFIX, testRedisUrl, uniqueSuffix } from './names.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';

export interface TestEnv {
  database: TestDatabase;
  prefix: string;
  redisUrl: string;
  /** Where this file's Redis is (REDIS_URL, or REDIS_CLUSTER_NODES when set) and how its queues lie there. */
  redis: RedisTarget;
  layout: QueueLayout;
  /** Environment variables for a jobfleet process (child or in-process config). */
  env: Record<string, string>;
  config: Config;
  logger: Logger;
  /** Deletes this file's Redis keys, on its server or on every master of its cluster: a loss of Redis's data. */
  deleteKeys(): Promise<void>;
  /** Deletes this file's Redis keys and drops its database. */
  teardown(): Promise<void>;
}

export const FAST_TIMINGS = {
  HEARTBEAT_MS: '200',
  LEASE_MS: '1500',
  SWEEP_INTERVAL_MS: '200',
  RECONCILE_GRACE_MS: '0',
  SHUTDOWN_TIMEOUT_MS: '10000',
  // A test scrapes again after a change and expects to see it.
  METRICS_KEEP_MS: '0',
  LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
} as const;

export interface TestEnvOptions {
  /** A Redis server of the test's own: the file then runs on it, in the cluster project too. */
  redisUrl?: string;
  /** REDIS_CLUSTER_NODES of a cluster of the test's own; by default the cluster project's shared one. */
  clusterNodes?: string;
}

export async function createTestEnv(overrides: Record<string, string> = {}, options: TestEnvOptions = {}): Promise<TestEnv> {
  const database = await createTestDatabase();
  const prefix = `${TEST_REDIS_PREFIX}${uniqueSuffix().replace('_', '-')}`;
  const redisUrl = options.redisUrl ?? testRedisUrl();
  const clusterNodes = options.clusterNodes ?? (options.redisUrl === undefined ? inject('redisClusterNodes') : undefined);
  // Workspaces of this file's workers, apart from every other file's (their salvage scans the root).
  const workspaceRoot = mkdtempSync(path.join(os.tmpdir(), 'jobfleet-workspaces-'));
  const env: Record<string, string> = {
    WORKSPACE_ROOT: workspaceRoot,
    DATABASE_URL: database.url,
    REDIS_URL: redisUrl,
    BULLMQ_PREFIX: prefix,
    ...(clusterNodes === undefined ? {} : { REDIS_CLUSTER_NODES: clusterNodes }),
    PORT: '0',
    ...FAST_TIMINGS,
    ...overrides,
  };
  const config = loadConfig(env);
  const redis = redisTargetOf(config);
  const deleteOwnKeys = () => (redis.clusterNodes === null ? deleteKeys(redisUrl, prefix) : deleteClusterKeys(redis.clusterNodes, prefix));
  return {
    database,
    prefix,
    redisUrl,
    redis,
    layout: queueLayoutOf(config),
    env,
    config,
    logger: createLogger(config),
    deleteKeys: deleteOwnKeys,
    async teardown() {
      rmSync(workspaceRoot, { recursive: true, force: true });
      await deleteOwnKeys().catch(() => undefined);
      await database.drop();
    },
  };
}

export async function deleteKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, retryStrategy: () => null, lazyConnect: true });
  redis.on('error', () => {});
  try {
    await redis.connect();
    const stream = redis.scanStream({ match: `${prefix}:*`, count: 1000 });
    for await (const keys of stream as AsyncIterable<string[]>) if (keys.length) await redis.unlink(...keys);
  } finally {
    redis.disconnect();
  }
}

/**
 * Deletes a prefix's keys on every master of a cluster. The layout keeps every key of a fleet
 * under `${prefix}:`, spread over slots, so each master is scanned and each key unlinked alone
 * (a multi-key UNLINK must stay within one slot).
 */
export async function deleteClusterKeys(nodes: readonly { host: string; port: number }[], prefix: string): Promise<void> {
  const cluster = new Cluster([...nodes], {
    lazyConnect: true,
    redisOptions: { maxRetriesPerRequest: 1 },
    clusterRetryStrategy: () => null,
  });
  cluster.on('error', () => {});
  try {
    await cluster.connect();
    for (const master of cluster.nodes('master')) {
      const stream = master.scanStream({ match: `${prefix}:*`, count: 1000 });
      for await (const keys of stream as AsyncIterable<string[]>) {
        if (keys.length === 0) continue;
        const pipeline = master.pipeline();
        for (const key of keys) pipeline.unlink(key);
        await pipeline.exec();
      }
    }
  } finally {
    cluster.disconnect();
  }
}
