/**
 * A pooled connection can die at any moment (Postgres restarts, an operator terminates the
 * backend). The statement that needed it fails with an error the fleet recognises as "Postgres is
 * unavailable", the process carries on, and the pool's next statement runs on a new connection.
 */
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPostgresUnavailable } from '../src/db/postgres-unavailable.js';
import { maintenanceUrl } from '../src/db/ensure-database.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-database.js';
import { serverUrl } from './helpers/names.js';
import { waitFor } from './helpers/wait-for.js';

let test: TestDatabase;
beforeAll(async () => {
  test = await createTestDatabase({ poolMax: 1 });
  await sql`CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)`.execute(test.db);
});
afterAll(async () => {
  await test.drop();
});

async function terminate(pid: number): Promise<void> {
  const admin = new pg.Client({ connectionString: maintenanceUrl(serverUrl()) });
  await admin.connect();
  try {
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    const gone = async () => (await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount === 0;
    await waitFor(`backend ${pid} to end`, gone);
  } finally {
    await admin.end();
  }
}

async function backendPid(executor: Parameters<ReturnType<typeof sql>['execute']>[0]): Promise<number> {
  const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(executor);
  return rows[0]!.pid;
}

describe('a pooled connection that dies while checked out', () => {
  it('fails its transaction as unavailable, without crashing the process, and the pool serves the next statement', async () => {
    const failure = await test.db
      .transaction()
      .execute(async (trx) => {
        await terminate(await backendPid(trx));
        await sql`INSERT INTO notes VALUES (1, 'lost')`.execute(trx);
        await sql`SELECT 1`.execute(trx);
      })
      .then(
        () => null,
        (error: unknown) => error,
      );
    expect(isPostgresUnavailable(failure), String(failure)).toBe(true);

    const { rows } = await sql<{ count: string }>`SELECT count(*)::text AS count FROM notes`.execute(test.db);
    expect(rows[0]!.count).toBe('0');
  });

  it('fails a statement in flight as unavailable, and the pool serves the next one', async () => {
    const pid = await backendPid(test.db);
    const failure = await test.db.connection().execute(async (connection) => {
      const sleeping = sql`SELECT pg_sleep(30)`.execute(connection).then(
        () => null,
        (error: unknown) => error,
      );
      await terminate(pid);
      return sleeping;
    });
    expect(isPostgresUnavailable(failure), String(failure)).toBe(true);
    expect(await backendPid(test.db)).not.toBe(pid);
  });
});
