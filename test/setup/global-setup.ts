/**
 * Runs once per `vitest run`: checks that Postgres and Redis answer, drops what crashed earlier
 * runs left behind, and migrates one template database that every test file clones.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { createDatabase } from '../../src/db/database.js';
import { maintenanceUrl } from '../../src/db/ensure-database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { TEST_DB_PREFIX, TEST_REDIS_PREFIX, isStale, serverUrl, testRedisUrl, withDatabaseName } from '../helpers/names.js';

declare module 'vitest' {
  export interface ProvidedContext {
    templateDatabase: string;
  }
}

export default async function setup(project: TestProject) {
  const admin = new pg.Client({ connectionString: maintenanceUrl(serverUrl()), connectionTimeoutMillis: 5_000 });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(`tests need Postgres at ${serverUrl()}: ${(error as Error).message}`);
  }
  const redis = new Redis(testRedisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(`tests need Redis at ${testRedisUrl()}: ${(error as Error).message}`);
  }

  await dropStaleDatabases(admin);
  await dropStaleRedisPrefixes(redis);
  redis.disconnect();

  // Each project (integration, cluster) runs this setup: each migrates a template of its own.
  const template = `${TEST_DB_PREFIX}${process.pid}_${project.name}_template`;
  await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(template)} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(template)}`);
  const db = createDatabase({ connectionString: withDatabaseName(template), poolMax: 1 });
  try {
    await migrateToLatest(db);
  } finally {
    await db.destroy();
  }
  project.provide('templateDatabase', template);

  return async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(template)} WITH (FORCE)`);
    await admin.end();
  };
}

async function dropStaleDatabases(admin: pg.Client) {
  const { rows } = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${TEST_DB_PREFIX}%`]);
  for (const { datname } of rows) {
    if (isStale(datname.slice(TEST_DB_PREFIX.length))) {
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
    }
  }
}

async function dropStaleRedisPrefixes(redis: Redis) {
  const stream = redis.scanStream({ match: `${TEST_REDIS_PREFIX}*`, count: 1000 });
  for await (const keys of stream as AsyncIterable<string[]>) {
    const stale = keys.filter((key) => isStale(key.slice(TEST_REDIS_PREFIX.length)));
    if (stale.length) await redis.unlink(...stale);
  }
}
