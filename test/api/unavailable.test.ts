/**
 * While Postgres starts, stops, restarts or is full, and while the pool has no free connection,
 * the API answers 503 with Retry-After (a client should wait and try again), never 500.
 */
import { Hono } from 'hono';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { respondWithError } from '../../src/api/http-errors.js';
import { createDatabase, type Db } from '../../src/db/database.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';

const logger = createLogger({ LOG_LEVEL: 'silent' });

function serverError(code: string, message: string, severity = 'FATAL'): pg.DatabaseError {
  const error = new pg.DatabaseError(message, message.length, 'error');
  error.code = code;
  error.severity = severity;
  return error;
}

function networkError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code });
}

function appThrowing(thrown: () => unknown | Promise<unknown>) {
  const app = new Hono();
  app.onError((error, c) => respondWithError(c, error, logger));
  app.get('/probe', async () => {
    throw await thrown();
  });
  return app;
}

describe('an API request that meets an unavailable Postgres', () => {
  it.each([
    ['starting up', serverError('57P03', 'the database system is starting up')],
    ['shutting down', serverError('57P03', 'the database system is shutting down')],
    ['not yet accepting connections', serverError('57P03', 'the database system is not yet accepting connections')],
    ['terminated by a fast shutdown', serverError('57P01', 'terminating connection due to administrator command')],
    ['terminated by a crash of another backend', serverError('57P02', 'terminating connection because of crash of another server process')],
    ['full', serverError('53300', 'sorry, too many clients already')],
    ['a broken connection (08006)', serverError('08006', 'connection failure')],
    ['a connection that ended under the statement', new Error('Connection terminated unexpectedly')],
    ['a pool that found no connection in time', new Error('timeout exceeded when trying to connect')],
    ['refusing connections', networkError('ECONNREFUSED')],
    ['resetting the connection', networkError('ECONNRESET')],
  ])('answers 503 with Retry-After when Postgres is %s', async (_, error) => {
    const response = await appThrowing(() => error).request('/probe');
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('service_unavailable');
  });

  it.each([
    ['a unique violation', serverError('23505', 'duplicate key value violates unique constraint', 'ERROR')],
    ['a bug', new Error('boom')],
  ])('still answers 500 without Retry-After for %s', async (_, error) => {
    const response = await appThrowing(() => error).request('/probe');
    expect(response.status).toBe(500);
    expect(response.headers.get('retry-after')).toBeNull();
  });
});

describe('an API request that finds the pool full', () => {
  let test: TestDatabase;
  let db: Db;
  beforeAll(async () => {
    test = await createTestDatabase();
    db = createDatabase({ connectionString: test.url, poolMax: 1 });
  });
  afterAll(async () => {
    await db.destroy();
    await test.drop();
  });

  it('answers 503 with Retry-After once the pool gives up waiting for a connection', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const holding = db.connection().execute(async (connection) => {
      await sql`SELECT 1`.execute(connection);
      await released;
    });
    try {
      const response = await appThrowing(() => sql`SELECT 1`.execute(db).then(() => new Error('the pool had room'))).request('/probe');
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    } finally {
      release();
      await holding;
    }
  });
});
