/**
 * An owner's running and queued jobs are read on every wake of parked deliveries (each end of a
 * job while caps are on), every sweep and every look at an owner's concurrency: they must cost
 * what the owner's live jobs cost, not a scan of every job the fleet has ever run. Here the table
 * holds twenty thousand finished jobs beside a few live ones, and the read may not scan it.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import { ownerLoads } from '../../src/fairness/owner-caps.js';
import { type ApiHarness, createApiHarness } from '../helpers/api-harness.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let api: ApiHarness;
let db: Db;

beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  db = env.database.db;
});
afterAll(async () => {
  await api?.close();
  await env?.teardown();
});

/** Twenty thousand DONE copies of a job: a fleet's history (written straight to the table, as old rows would be). */
async function finishedHistory(seed: string) {
  const { rows } = await sql<{ column_name: string }>`
    SELECT column_name FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = 'claude_jobs'
      AND is_generated = 'NEVER' AND column_name NOT IN ('id', 'status', 'finished_at', 'retry_of_job_id')
  `.execute(db);
  const columns = sql.join(rows.map((row) => sql.id(row.column_name)));
  await sql`
    INSERT INTO claude_jobs (${columns}, id, status, finished_at)
    SELECT ${columns}, gen_random_uuid(), 'DONE', now() FROM claude_jobs, generate_series(1, 20000)
    WHERE id = ${seed}
  `.execute(db);
  await sql`ANALYZE claude_jobs`.execute(db);
}

describe("an owner's load", () => {
  it('is read from the live jobs, without scanning the finished ones', async () => {
    const product = await createProduct(db, 'owner-history', 'History');
    const ideas = await createIdeas(db, product, 3, 'DRAFT');
    const ids: string[] = [];
    for (const idea of ideas) {
      const answer = await api.call('POST', '/api/v1/jobs', { kind: 'idea_grill', idea_id: idea });
      expect(answer.status).toBe(202);
      ids.push(answer.body.id);
    }
    await finishedHistory(ids[0]!);

    // Scans of the table by this transaction, counted by Postgres as they happen.
    const { named, every, scans } = await db.transaction().execute(async (trx) => {
      const loads = {
        named: await ownerLoads(trx, ['owner-history', 'owner-idle'], 2),
        every: await ownerLoads(trx, null, 2),
      };
      const { rows } = await sql<{ seq_scan: string }>`
        SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relid = 'claude_jobs'::regclass
      `.execute(trx);
      return { ...loads, scans: Number(rows[0]?.seq_scan ?? 0) };
    });
    const history = { ownerId: 'owner-history', maxRunning: 2, source: 'default', running: 0, queued: 3 };
    expect(named).toEqual([history, { ownerId: 'owner-idle', maxRunning: 2, source: 'default', running: 0, queued: 0 }]);
    expect(every).toEqual([history]);
    expect(scans).toBe(0);
  });
});
