/**
 * Creates the database named by a connection string when it does not exist yet (and the role
 * may create databases), so `jobfleet start` needs nothing on a fresh machine but the server.
 */
import pg from 'pg';
import { withDefaultUser } from './connection-string.js';

/** The same server, the maintenance database: where CREATE DATABASE can be issued. */
export function maintenanceUrl(connectionString: string, database = 'postgres'): string {
  const url = new URL(withDefaultUser(connectionString));
  url.pathname = `/${database}`;
  return url.toString();
}

export function databaseName(connectionString: string): string {
  const name = decodeURIComponent(new URL(connectionString).pathname.replace(/^\//, ''));
  if (!name) throw new Error('DATABASE_URL names no database');
  return name;
}

/** Returns true when the database was created, false when it was already there. */
export async function ensureDatabase(connectionString: string): Promise<boolean> {
  const name = databaseName(connectionString);
  const client = new pg.Client({ connectionString: maintenanceUrl(connectionString), connectionTimeoutMillis: 5_000 });
  // A connection lost here fails the query below; unheard, its 'error' event would end the process.
  client.on('error', () => {});
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return false;
    try {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      return true;
    } catch (error) {
      // Another process created it between our look and our create.
      if ((error as { code?: string }).code === '42P04') return false;
      throw error;
    }
  } finally {
    await client.end();
  }
}
