/**
 * The pool behind every Db: node-postgres's own Pool, handed to Kysely through Kysely's documented
 * PostgresPool interface, with two guards for connections that die (Postgres restarting, a
 * terminated backend), both through documented node-postgres APIs:
 * - every client has an 'error' listener. Idle, the pool hears the error and drops the client;
 *   checked out, the statement in flight fails with the error, but the event itself must still
 *   have a listener, or Node turns it into an uncaught exception that ends the process;
 * - a client whose statement failed with a FATAL error is handed back with `release(error)`, which
 *   makes the pool destroy it. The server is ending that session, but its socket may not have
 *   closed yet when the caller is done, and the pool would lend out a connection about to die.
 */
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import pg from 'pg';

export interface ConnectionPoolOptions {
  connectionString: string;
  max: number;
  applicationName: string;
}

function isFatal(error: unknown): boolean {
  const severity = (error as { severity?: unknown } | null)?.severity;
  return severity === 'FATAL' || severity === 'PANIC';
}

/** Kysely's view of one checked-out client: its statements, and a release that knows of a FATAL error. */
function poolClient(client: pg.PoolClient): PostgresPoolClient {
  let fatal: Error | undefined;
  const noteFatal = (error: unknown) => {
    if (isFatal(error)) fatal ??= error as Error;
    throw error;
  };
  return {
    // Kysely passes a cursor only to stream, which needs the dialect's `cursor` option (not set).
    query: ((text: string, values: readonly unknown[]) =>
      client.query(text, values as unknown[]).catch(noteFatal)) as unknown as PostgresPoolClient['query'],
    release: () => client.release(fatal),
  };
}

export function createConnectionPool(options: ConnectionPoolOptions): PostgresPool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max,
    application_name: options.applicationName,
    // Fail fast instead of hanging when Postgres is gone; a request gets a 503, not a stall.
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return {
    connect: async () => poolClient(await pool.connect()),
    end: () => pool.end(),
  };
}
