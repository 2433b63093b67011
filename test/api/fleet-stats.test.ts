/**
 * GET /api/v1/stats: the counts of the jobs the token sees, an answer kept METRICS_KEEP_MS per
 * scope, so that the fleet pages of one scope polling together cost one read; another scope's
 * answer is its own (a kept answer past its time is read again: test/unit/kept-answers.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claudeJobMachine } from '../../src/machines/index.js';
import { claudeJobStatus, jobKind } from '../../src/spelling/api-spelling.js';
import { transitionMany } from '../../src/transitions/index.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { inTrx } from '../helpers/fixtures.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let api: ApiHarness;

beforeAll(async () => {
  // Long enough that nothing in this file outlives it.
  env = await createTestEnv({ METRICS_KEEP_MS: '600000' });
  api = await createApiHarness(env);
});
afterAll(async () => {
  await api.close();
  await env.teardown();
});

async function addJobs(owner: string, count: number) {
  const db = env.database.db;
  const product = await createProduct(db, owner, `${owner}'s`);
  const ideas = await createIdeas(db, product, count);
  await db
    .insertInto('claude_jobs')
    .values(ideas.map((idea_id) => ({ kind: 'IDEA_GRILL', idea_id, product_id: product, owner_id: owner })) as never)
    .execute();
}

const stats = async (owner: string) =>
  (await api.call('GET', '/api/v1/stats', undefined, { authorization: `Bearer ${await api.token(['read'], owner)}` })).body.jobs;

describe('the fleet stats', () => {
  it("count each scope's jobs, and answer a scope from its kept answer until METRICS_KEEP_MS has passed", async () => {
    await addJobs('alice', 2);
    await addJobs('bob', 3);
    expect(await stats('alice')).toEqual({ idea_grill: { queued: 2 } });
    expect(await stats('bob')).toEqual({ idea_grill: { queued: 3 } });
    await addJobs('alice', 4);
    // Kept: the same answer, though another token of the same owner asks.
    expect(await stats('alice')).toEqual({ idea_grill: { queued: 2 } });
    // Carol's scope was never asked: read now, with what is there now.
    await addJobs('carol', 1);
    expect(await stats('carol')).toEqual({ idea_grill: { queued: 1 } });
  });
});

describe("an admin's fleet stats", () => {
  it('count every job by kind and status, live and finished, as a full count of the table does', async () => {
    await addJobs('dave', 3);
    const db = env.database.db;
    const [first] = await db.selectFrom('claude_jobs').select('id').where('owner_id', '=', 'dave').execute();
    await inTrx(db, (trx) =>
      transitionMany(trx, claudeJobMachine, [{ id: first!.id, from: 'QUEUED', to: 'CANCELLED', trigger: 'user_cancels' }]),
    );
    const full = await db
      .selectFrom('claude_jobs')
      .select(['kind', 'status'])
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .groupBy(['kind', 'status'])
      .execute();
    const expected: Record<string, Record<string, number>> = {};
    for (const row of full) {
      const kind = jobKind.toApi(row.kind);
      expected[kind] = { ...(expected[kind] ?? {}), [claudeJobStatus.toApi(row.status)]: Number(row.count) };
    }
    const reply = await api.call('GET', '/api/v1/stats', undefined, { authorization: `Bearer ${await api.token(['admin'])}` });
    expect(reply.status).toBe(200);
    expect(reply.body.jobs).toEqual(expected);
    expect(reply.body.jobs.idea_grill.cancelled).toBeGreaterThanOrEqual(1);
  });
});
