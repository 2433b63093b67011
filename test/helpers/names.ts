/**
 * Names of what tests create: databases `jobfleet_test_<pid>_<random>` and BullMQ prefixes
 * `jftest-<pid>-<random>`. The pid lets a later run drop what a crashed run left behind without
 * touching a run that is still going.
 */
import { randomBytes } from 'node:crypto';

export const TEST_DB_PREFIX = 'jobfleet_test_';
export const TEST_REDIS_PREFIX = 'jftest-';

/** The server the tests use: DATABASE_URL's, or the default local one. */
export function serverUrl(): string {
  return process.env.DATABASE_URL || 'postgres://127.0.0.1:5432/postgres';
}

export function testRedisUrl(): string {
  return process.env.REDIS_URL || 'redis://127.0.0.1:6379';
}

export function withDatabaseName(name: string): string {
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

export function uniqueSuffix(): string {
  return `${process.pid}_${randomBytes(5).toString('hex')}`;
}

/** True when the pid a name starts with belongs to no live process. */
export function isStale(rest: string): boolean {
  const pid = Number(rest.split(/[_-]/)[0]);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
