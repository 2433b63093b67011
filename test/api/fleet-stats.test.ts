/**
 * GET /api/v1/stats: the counts of the jobs the token sees, an answer kept METRICS_KEEP_MS per
 * scope, so that the fleet pages of one scope polling together cost one read; another scope's
 * answer is its own (a kept answer past its time is read again: test/unit/kept-answers.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
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
