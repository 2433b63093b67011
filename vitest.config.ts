import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/global-setup.ts'],
    // Real Postgres, Redis and child processes: forks isolate files, and files run in parallel.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    // Kysely's Migrator imports the .ts migrations; vitest must transform kysely for that to work.
    server: { deps: { inline: ['kysely'] } },
  },
});
