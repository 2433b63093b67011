/**
 * One test file's world: its own database (cloned from the template), its own BullMQ prefix,
 * the configuration that points at both, and cleanup of everything it made in Redis.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
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
  /** Deletes this file's Redis keys and drops its database. */
  teardown(): Promise<void>;
}

export const FAST_TIMINGS = {
  HEARTBEAT_MS: '200',
  LEASE_MS: '1500',
  SWEEP_INTERVAL_MS: '200',
  RECONCILE_GRACE_MS: '0',
  SHUTDOWN_TIMEOUT_MS: '10000',
  LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
} as const;

export async function createTestEnv(overrides: Record<string, string> = {}, options: { redisUrl?: string } = {}): Promise<TestEnv> {
  const database = await createTestDatabase();
  const prefix = `${TEST_REDIS_PREFIX}${uniqueSuffix().replace('_', '-')}`;
  const redisUrl = options.redisUrl ?? testRedisUrl();
  // Workspaces of this file's workers, apart from every other file's (their salvage scans the root).
  const workspaceRoot = mkdtempSync(path.join(os.tmpdir(), 'jobfleet-workspaces-'));
  const env: Record<string, string> = {
    WORKSPACE_ROOT: workspaceRoot,
    DATABASE_URL: database.url,
    REDIS_URL: redisUrl,
    BULLMQ_PREFIX: prefix,
    PORT: '0',
    ...FAST_TIMINGS,
    ...overrides,
  };
  const config = loadConfig(env);
  return {
    database,
    prefix,
    redisUrl,
    redis: redisTargetOf(config),
    layout: queueLayoutOf(config),
    env,
    config,
    logger: createLogger(config),
    async teardown() {
      rmSync(workspaceRoot, { recursive: true, force: true });
      await deleteKeys(redisUrl, prefix).catch(() => undefined);
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
