/**
 * The kinds of Redis connection jobfleet opens, to one Redis or to a Redis Cluster
 * (REDIS_CLUSTER_NODES), with the opposite failure policies BullMQ's production guide asks for:
 * - producers (API, sweeper) fail fast: a command while Redis is away errors at once, so a
 *   request is never held hostage; the job row is already committed and the sweeper re-adds it;
 * - workers and subscribers reconnect for ever and wait: a worker outlives any Redis restart or
 *   a cluster's failover.
 * Every connection handles `error`, so a Redis outage is logged, never an unhandled crash.
 */
import type { ConnectionOptions } from 'bullmq';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';

/** A connection to one Redis or to a cluster: BullMQ and jobfleet's own keys take either. */
export type RedisClient = Redis | Cluster;

/** Where Redis is: one server (its URL), or a cluster (its nodes; the URL's credentials and TLS apply to each). */
export interface RedisTarget {
  url: string;
  clusterNodes: readonly { host: string; port: number }[] | null;
}

export function redisTargetOf(config: Pick<Config, 'REDIS_URL' | 'REDIS_CLUSTER_NODES'>): RedisTarget {
  return { url: config.REDIS_URL, clusterNodes: config.REDIS_CLUSTER_NODES ?? null };
}

/** Where a target is, for messages: host:port, or the cluster's first nodes (never credentials). */
export function describeTarget(target: RedisTarget): string {
  if (target.clusterNodes === null) {
    const parsed = new URL(target.url);
    return `${parsed.hostname || '127.0.0.1'}:${parsed.port || 6379}`;
  }
  const shown = target.clusterNodes.slice(0, 3).map((node) => `${node.host}:${node.port}`);
  return `the cluster at ${shown.join(',')}${target.clusterNodes.length > 3 ? ',...' : ''}`;
}

/** The options of one server's connection that the URL says: where, who, TLS, database. */
function serverOptions(url: string): RedisOptions {
  const parsed = new URL(url);
  return {
    host: parsed.hostname || '127.0.0.1',
    port: Number(parsed.port || 6379),
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.pathname.length > 1 ? { db: Number(parsed.pathname.slice(1)) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/** A node of a cluster is reached with the URL's credentials and TLS; a cluster has no databases. */
function nodeOptions(url: string): RedisOptions {
  const { host: _host, port: _port, db: _db, ...rest } = serverOptions(url);
  return rest;
}

function clusterOf(target: RedisTarget, redisOptions: RedisOptions, options: ClusterOptions = {}): Cluster {
  return new Cluster([...(target.clusterNodes ?? [])], {
    ...options,
    redisOptions: { ...nodeOptions(target.url), ...redisOptions },
    // Keep looking for the cluster while it is away, as a single server's connection keeps trying.
    clusterRetryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 3_000),
  });
}

const FAIL_FAST = {
  maxRetriesPerRequest: 1,
  connectTimeout: 2_000,
} as const satisfies RedisOptions;

const WAIT_FOR_EVER = {
  maxRetriesPerRequest: null,
  enableOfflineQueue: true,
  retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 3_000),
} as const satisfies RedisOptions;

export function createProducerConnection(target: RedisTarget, logger: Logger): RedisClient {
  const connectionName = 'jobfleet-producer';
  const redis =
    target.clusterNodes === null
      ? new Redis(target.url, {
          ...FAIL_FAST,
          connectionName,
          enableOfflineQueue: false,
          // Keep trying to come back in the background; commands meanwhile fail fast.
          retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2_000),
        })
      : clusterOf(target, { ...FAIL_FAST, connectionName }, { enableOfflineQueue: false });
  watch(redis, logger, 'producer');
  return redis;
}

/** A connection for pub/sub and housekeeping that reconnects for ever. */
export function createSubscriberConnection(target: RedisTarget, logger: Logger, name: string): RedisClient {
  const connectionName = `jobfleet-${name}`;
  const redis =
    target.clusterNodes === null
      ? new Redis({ ...serverOptions(target.url), ...WAIT_FOR_EVER, connectionName })
      : // Its channels are sharded (fleet-channels.ts): one subscriber per shard that holds one.
        clusterOf(target, { ...WAIT_FOR_EVER, connectionName }, { shardedSubscribers: true });
  watch(redis, logger, name);
  return redis;
}

/** What a BullMQ Worker is given to reach Redis, and how to let go of it once the Worker closed. */
export interface WorkerConnection {
  connection: ConnectionOptions;
  close(): Promise<void>;
}

export interface WorkerConnectionOptions {
  /**
   * ioredis's auto-pipelining (`enableAutoPipelining`): the commands one turn of the event loop
   * issues go out in one write and come back in one read, in the order issued. A worker's
   * deliveries end in bursts (each completion flush ends dozens at once), and their BullMQ scripts
   * otherwise go out one write each. One server only: not measured on a cluster.
   * @defaultValue false
   */
  autoPipelining?: boolean;
}

/**
 * For one BullMQ Worker. To one server, plain options: the Worker opens and closes its own
 * connections. To a cluster, a cluster client of the Worker's own, which BullMQ duplicates for its
 * blocking fetches and which is closed here after the Worker.
 */
export function workerConnection(
  target: RedisTarget,
  logger: Logger,
  name = 'worker',
  options: WorkerConnectionOptions = {},
): WorkerConnection {
  const connectionName = `jobfleet-${name}`;
  if (target.clusterNodes === null) {
    const pipelining = options.autoPipelining ? { enableAutoPipelining: true } : {};
    return { connection: { ...serverOptions(target.url), ...WAIT_FOR_EVER, connectionName, ...pipelining }, close: async () => {} };
  }
  const cluster = clusterOf(target, { ...WAIT_FOR_EVER, connectionName });
  watch(cluster, logger, name);
  return {
    connection: cluster,
    async close() {
      await cluster.quit().catch(() => cluster.disconnect());
    },
  };
}

/** The connection as one server's, for tools that work on one Redis only (the bench); throws for a cluster's. */
export function serverConnection(redis: RedisClient): Redis {
  if (redis instanceof Redis) return redis;
  throw new Error('this works on one Redis server, not on a cluster');
}

/** Resolves when Redis answers PING; a cluster, when it also serves every slot (`cluster_state:ok`). */
export async function assertServing(redis: RedisClient): Promise<void> {
  await redis.ping();
  if (redis instanceof Cluster) {
    const info = String(await redis.call('CLUSTER', 'INFO'));
    if (!info.includes('cluster_state:ok')) throw new Error('the cluster is not serving every slot (cluster_state is not ok)');
  }
}

/** A one-off connection that tries once (readiness checks at start). */
export function createProbeConnection(target: RedisTarget): RedisClient {
  const probe: RedisOptions = { connectTimeout: 5_000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null };
  const redis =
    target.clusterNodes === null
      ? new Redis(target.url, { ...probe, lazyConnect: true })
      : new Cluster([...target.clusterNodes], {
          lazyConnect: true,
          enableOfflineQueue: false,
          redisOptions: { ...nodeOptions(target.url), ...probe },
          clusterRetryStrategy: () => null,
        });
  redis.on('error', () => {});
  return redis;
}

function watch(redis: RedisClient, logger: Logger, role: string) {
  let down = false;
  redis.on('error', (error: Error) => {
    if (!down) logger.warn({ role, err: error.message }, 'redis connection error');
    down = true;
  });
  redis.on('ready', () => {
    if (down) logger.info({ role }, 'redis connection restored');
    down = false;
  });
}
