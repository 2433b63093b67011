/**
 * What every long-running command opens first: checks that Postgres and Redis answer (naming
 * the one that does not), the database pool, and a check that the schema is migrated.
 */
import type { Config } from '../config.js';
import { createDatabase, type Db } from '../db/database.js';
import { databaseName } from '../db/ensure-database.js';
import { listMigrations } from '../db/migrator.js';
import { checkPostgres, checkRedis, ServiceUnreachableError } from '../services/reachability.js';
import type { Closers } from './lifecycle.js';

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
