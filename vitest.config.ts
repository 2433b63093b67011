import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Three projects: `unit` (test/unit) needs no Postgres or Redis and starts none, so
 * `npm run test:unit` runs in seconds anywhere; `integration` (everything else) gets the global
 * setup that checks both servers and migrates the template database each test file clones;
 * `cluster` runs the pipeline's files that matter again on a Redis Cluster its setup starts (one
 * for the whole run, 3 masters and 3 replicas), with the tests of test/cluster that only a
 * cluster has (failover, split queues, signals across nodes).
 */

/** Pipeline files that run unchanged on the cluster: each `createTestEnv` there points at it. */
const ON_CLUSTER = [
  'test/pipeline/delivery.test.ts',
  'test/pipeline/crashes.test.ts',
  'test/pipeline/cancel.test.ts',
  'test/observability/events.test.ts',
  'test/sprints/sprint-runs.test.ts',
  // Job schedulers: BullMQ's most key-hungry scripts, on a queue with a hash tag of its own.
  'test/schedules/schedule-firings.test.ts',
];
export default defineConfig({
  test: {
    // Real Postgres, Redis and child processes: forks isolate files, and files run in parallel.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // Addresses where nothing listens: a unit test that reaches for a server fails at once.
          env: { DATABASE_URL: 'postgres://127.0.0.1:1/unreachable', REDIS_URL: 'redis://127.0.0.1:1' },
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/unit/**', 'test/cluster/**'],
          globalSetup: ['test/setup/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'cluster',
          include: [...ON_CLUSTER, 'test/cluster/**/*.test.ts'],
          globalSetup: ['test/setup/global-setup.ts', 'test/setup/cluster-setup.ts'],
        },
      },
    ],
    // Kysely's Migrator imports the .ts migrations; vitest must transform kysely for that to work.
    server: { deps: { inline: ['kysely'] } },
  },
});
