/**
 * The compiled build (`npm run build`, what `npm start` runs): it finds its migrations, its
 * version and the fleet page from dist/, and takes a job from the API to done.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../src/db/database.js';
import { maintenanceUrl } from '../src/db/ensure-database.js';
import { TEST_DB_PREFIX, TEST_REDIS_PREFIX, serverUrl, testRedisUrl, uniqueSuffix, withDatabaseName } from './helpers/names.js';
import { killAll, spawnBuilt } from './helpers/processes.js';
import { createIdeas, createProduct } from './helpers/subjects.js';
import { deleteKeys } from './helpers/test-env.js';
import { waitFor } from './helpers/wait-for.js';

const ROOT = path.join(import.meta.dirname, '..');
// Inside the package, so the build resolves node_modules and package.json as dist/ does.
const OUT = path.join(ROOT, 'test-artifacts', `build-${uniqueSuffix()}`);
const name = `${TEST_DB_PREFIX}${uniqueSuffix()}`;
const prefix = `${TEST_REDIS_PREFIX}${uniqueSuffix().replace('_', '-')}`;

afterAll(async () => {
  await killAll();
  rmSync(OUT, { recursive: true, force: true });
  const admin = new pg.Client({ connectionString: maintenanceUrl(serverUrl()) });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  await admin.end();
  await deleteKeys(testRedisUrl(), prefix);
});

describe('the compiled build', () => {
  it('migrates a fresh database, serves the fleet page and runs a job to done, then stops cleanly', async () => {
    execFileSync(path.join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json', '--outDir', OUT], {
      cwd: ROOT,
      stdio: 'pipe',
    });
    const admin = 'test-admin-token-0123456789abcdef';
    const auth = { authorization: `Bearer ${admin}` };
    const fleet = spawnBuilt(path.join(OUT, 'src', 'cli', 'main.js'), ['start'], {
      DATABASE_URL: withDatabaseName(name),
      REDIS_URL: testRedisUrl(),
      BULLMQ_PREFIX: prefix,
      PORT: '0',
      LOG_LEVEL: 'warn',
      ADMIN_TOKEN: admin,
    });
    const [, base] = await fleet.line(/API:\s+(http:\/\/\S+)\/api\/v1/);

    const page = await fetch(`${base}/`, { headers: auth });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
    // The page's charting library comes from its npm package, found from the build too.
    const charts = await fetch(`${base}/vendor/uPlot.iife.min.js`, { headers: auth });
    expect(charts.status).toBe(200);
    expect(await charts.text()).toContain('uPlot');

    const db = createDatabase({ connectionString: withDatabaseName(name), poolMax: 1 });
    try {
      const [idea] = await createIdeas(db, await createProduct(db), 1);
      const posted = await fetch(`${base}/api/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth },
        body: JSON.stringify({ kind: 'plan_chat', idea_id: idea, payload: { message: 'Hello from the build' } }),
      });
      expect(posted.status).toBe(202);
      const job = (await posted.json()) as { id: string };
      await waitFor('the job to be done', async () => {
        const row = await db.selectFrom('claude_jobs').select('status').where('id', '=', job.id).executeTakeFirstOrThrow();
        return row.status === 'DONE';
      });
      const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
      const worker = await db.selectFrom('workers').select('version').executeTakeFirstOrThrow();
      expect(worker.version).toBe(version);
    } finally {
      await db.destroy();
    }

    fleet.kill('SIGTERM');
    expect((await fleet.exited).code).toBe(0);
  });
});
