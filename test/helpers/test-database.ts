/**
 * A database of its own for one test file, cloned from the migrated template in milliseconds.
 */
import pg from 'pg';
import { inject } from 'vitest';
import { createDatabase, type Db } from '../../src/db/database.js';
import { maintenanceUrl } from '../../src/db/ensure-database.js';
// What the processes load: the kind handlers and the cascades of jobs and runs.
import '../../src/kinds/index.js';
import { TEST_DB_PREFIX, serverUrl, uniqueSuffix, withDatabaseName } from './names.js';

export interface TestDatabase {
  name: string;
  url: string;
  db: Db;
  drop(): Promise<void>;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: maintenanceUrl(serverUrl()) });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(options: { poolMax?: number } = {}): Promise<TestDatabase> {
  const template = inject('templateDatabase');
  const name = `${TEST_DB_PREFIX}${uniqueSuffix()}`;
  await admin(async (client) => {
    // Parallel files clone the same template; Postgres refuses a clone while another one holds
    // the template open, so retry that one error briefly.
    for (let attempt = 0; ; attempt += 1) {
      try {
        await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(template)}`);
        return;
      } catch (error) {
        if ((error as { code?: string }).code !== '55006' || attempt >= 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100));
      }
    }
  });
  const url = withDatabaseName(name);
  const db = createDatabase({ connectionString: url, poolMax: options.poolMax ?? 10 });
  return {
    name,
    url,
    db,
    async drop() {
      await db.destroy();
      await admin((client) => client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`));
    },
  };
}

/** An empty database (no migrations), for the migration tests. */
export async function createEmptyDatabase(): Promise<TestDatabase> {
  const name = `${TEST_DB_PREFIX}${uniqueSuffix()}`;
  await admin((client) => client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`));
  const url = withDatabaseName(name);
  const db = createDatabase({ connectionString: url, poolMax: 2 });
  return {
    name,
    url,
    db,
    async drop() {
      await db.destroy();
      await admin((client) => client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`));
    },
  };
}
