/**
 * Before a process starts its work it makes sure Postgres and Redis answer. When one does not,
 * the error says which, at what address, and how to start it: the first thing an operator
 * needs, and the last thing a stack trace tells them.
 */
import pg from 'pg';
import type { Config } from '../config.js';
import { addressOf, withDefaultUser } from '../db/connection-string.js';
import { databaseName } from '../db/ensure-database.js';
import { assertServing, createProbeConnection, describeTarget, redisTargetOf } from '../queues/redis-connections.js';

export class ServiceUnreachableError extends Error {
  override readonly name = 'ServiceUnreachableError';
}

const START_POSTGRES =
  'start it (Debian/Ubuntu: `pg_ctlcluster <version> main start` or `sudo systemctl start postgresql`; macOS: `brew services start postgresql`) or point DATABASE_URL at a running server';
const START_REDIS =
  'start it (`redis-server --daemonize yes`, `sudo systemctl start redis-server`, or `brew services start redis`) or point REDIS_URL (or REDIS_CLUSTER_NODES) at a running server';

function reason(error: unknown): string {
  const e = error as { code?: string; message?: string; errors?: { message: string }[] };
  if (e.errors?.length) return e.errors.map((inner) => inner.message).join('; ');
  return e.code && !e.message?.includes(e.code) ? `${e.code}: ${e.message}` : (e.message ?? String(error));
}

/** Resolves when Postgres accepts a connection to the configured database. */
export async function checkPostgres(config: Pick<Config, 'DATABASE_URL'>): Promise<void> {
  const client = new pg.Client({ connectionString: withDefaultUser(config.DATABASE_URL), connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    const address = addressOf(config.DATABASE_URL);
    if ((error as { code?: string }).code === '3D000') {
      throw new ServiceUnreachableError(
        `Postgres at ${address} has no database "${databaseName(config.DATABASE_URL)}": run \`jobfleet migrate\` (it creates the database) or \`jobfleet start\``,
      );
    }
    throw new ServiceUnreachableError(`Postgres is not reachable at ${address} (${reason(error)}): ${START_POSTGRES}`);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Resolves when Redis answers PING; a cluster, when it is up and serves every slot. */
export async function checkRedis(config: Pick<Config, 'REDIS_URL' | 'REDIS_CLUSTER_NODES'>): Promise<void> {
  const target = redisTargetOf(config);
  const redis = createProbeConnection(target);
  try {
    await redis.connect();
    await assertServing(redis);
  } catch (error) {
    throw new ServiceUnreachableError(`Redis is not reachable at ${describeTarget(target)} (${reason(error)}): ${START_REDIS}`);
  } finally {
    redis.disconnect();
  }
}
