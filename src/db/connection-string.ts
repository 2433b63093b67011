import os from 'node:os';

/**
 * Like libpq, a connection string without a user means the operating-system user. node-postgres
 * reads $USER instead, which service managers and CI runners often leave unset. (PGUSER, when
 * set, was already put into DATABASE_URL by the configuration.)
 */
export function withDefaultUser(connectionString: string): string {
  const url = new URL(connectionString);
  if (!url.username) url.username = os.userInfo().username;
  return url.toString();
}

/** host:port of a connection string, for messages that must not show credentials. */
export function addressOf(connectionString: string): string {
  const url = new URL(connectionString);
  return `${url.hostname || 'localhost'}:${url.port || (url.protocol.startsWith('redis') ? '6379' : '5432')}`;
}
