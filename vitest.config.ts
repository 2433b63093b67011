import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Two projects: `unit` (test/unit) needs no Postgres or Redis and starts none, so
 * `npm run test:unit` runs in seconds anywhere; `integration` (everything else) gets the global
 * setup that checks both servers and migrates the template database each test file clones.
 */
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
          exclude: [...configDefaults.exclude, 'test/unit/**'],
          globalSetup: ['test/setup/global-setup.ts'],
        },
      },
    ],
    // Kysely's Migrator imports the .ts migrations; vitest must transform kysely for that to work.
    server: { deps: { inline: ['kysely'] } },
  },
});
