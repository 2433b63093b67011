/**
 * What every long-running command opens first: its tracing (when the OTEL_* variables ask for
 * it), checks that Postgres and Redis answer (naming the one that does not), the database pool,
 * and a check that the schema is migrated.
 */
import type { Config } from '../config.js';
import { createDatabase, type Db } from '../db/database.js';
import { databaseName } from '../db/ensure-database.js';
import { listMigrations } from '../db/migrator.js';
import { checkPostgres, checkRedis, ServiceUnreachableError } from '../services/reachability.js';
import { startTracing } from '../telemetry/tracing.js';
import type { Closers } from './lifecycle.js';

/**
 * Starts tracing before anything else opens, so it closes last: the spans of the shutdown itself
 * (agents drained, outcomes written) are flushed too. `serviceName` is the default when the
 * operator names none (OTEL_SERVICE_NAME).
 */
export async function openTracing(
  config: Config,
  closers: Closers,
  serviceName: string,
  options: { carriesContext?: boolean } = {},
): Promise<void> {
  const stop = await startTracing(config.tracing, serviceName, options);
  if (stop) closers.add('traces', stop);
}

export async function openDatabase(config: Config, closers: Closers, applicationName: string): Promise<Db> {
  await Promise.all([checkPostgres(config), checkRedis(config)]);
  const db = createDatabase({ connectionString: config.DATABASE_URL, poolMax: config.DB_POOL_MAX, applicationName });
  closers.add('database', () => db.destroy());
  const pending = (await listMigrations(db)).filter((migration) => !migration.executedAt);
  if (pending.length) {
    throw new ServiceUnreachableError(
      `the database "${databaseName(config.DATABASE_URL)}" is not migrated (${pending.length} pending): run \`jobfleet migrate\` or \`jobfleet start\``,
    );
  }
  return db;
}
