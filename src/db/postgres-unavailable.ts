/**
 * Whether an error means "Postgres cannot serve us right now, try again shortly" rather than
 * "this statement is wrong": the server is down, starting, stopping or full, the connection broke,
 * or the pool waited too long for a connection. The API answers these with 503 and Retry-After;
 * workers and the sweeper wait them out. One classifier, so every part of the fleet agrees.
 */

/** Socket errors: nothing listens, the connection was cut, or the address does not answer. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs of a server that is going away or not there yet: class 08 (connection exception),
 * 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now (starting up, shutting
 * down, in recovery), 53300 too many connections.
 */
const SERVER_CODES = new Set(['57P01', '57P02', '57P03', '53300']);

/**
 * pg and pg-pool raise these without a code: a connection that ended under a query, a client the
 * pool can no longer use, and a pool that found no free connection within its timeout.
 */
const MESSAGES = [
  'Connection terminated',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
  'timeout exceeded when trying to connect',
  'timeout expired',
];

export function isPostgresUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message, errors } = error as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || SERVER_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
  // A connection to a host with several addresses fails with every address's error.
  if (Array.isArray(errors) && errors.length > 0 && errors.every(isPostgresUnavailable)) return true;
  return typeof message === 'string' && typeof code !== 'string' && MESSAGES.some((known) => message.startsWith(known));
}
