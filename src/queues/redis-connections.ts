/**
 * The two kinds of Redis connection jobfleet opens, with the opposite failure policies BullMQ's
 * production guide asks for:
 * - producers (API, sweeper) fail fast: a command while Redis is away errors at once, so a
 *   request is never held hostage; the job row is already committed and the sweeper re-adds it;
 * - workers reconnect for ever and wait: a worker outlives any Redis restart.
 * Every connection handles `error`, so a Redis outage is logged, never an unhandled crash.
 */
import { Redis } from 'ioredis';
import type { Logger } from '../logger.js';

export function createProducerConnection(url: string, logger: Logger): Redis {
  const redis = new Redis(url, {
    connectionName: 'jobfleet-producer',
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2_000,
    // Keep trying to come back in the background; commands meanwhile fail fast.
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2_000),
  });
  watch(redis, logger, 'producer');
  return redis;
}

/** Options for BullMQ Workers, which open (and close) their own connections from them. */
export function workerConnectionOptions(url: string) {
  const parsed = new URL(url);
  return {
    host: parsed.hostname || '127.0.0.1',
    port: Number(parsed.port || 6379),
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.pathname.length > 1 ? { db: Number(parsed.pathname.slice(1)) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    connectionName: 'jobfleet-worker',
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 3_000),
  };
}

/** A plain connection for pub/sub and housekeeping that reconnects for ever. */
export function createSubscriberConnection(url: string, logger: Logger, name: string): Redis {
  const redis = new Redis(url, { ...workerConnectionOptions(url), connectionName: `jobfleet-${name}` });
  watch(redis, logger, name);
  return redis;
}

function watch(redis: Redis, logger: Logger, role: string) {
  let down = false;
  redis.on('error', (error) => {
    if (!down) logger.warn({ role, err: error.message }, 'redis connection error');
    down = true;
  });
  redis.on('ready', () => {
    if (down) logger.info({ role }, 'redis connection restored');
    down = false;
  });
}
