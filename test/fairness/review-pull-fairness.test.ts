/**
 * Pull mode (wait_for_job) is a worker like any other, so owners take turns in it too and an
 * owner at their cap holds back only their own jobs. Without caps: owner A's backlog does not keep
 * owner B's one job waiting behind all of it. At OWNER_MAX_RUNNING=1: when more than a pull's
 * handful of candidates belong to owners at their cap, another owner's job is still found.
 */
import '../../src/kinds/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/auth/token.repository.js';
import type { Db } from '../../src/db/database.js';
import { pullJob, pullWorker } from '../../src/jobs/pull-jobs.js';
import type { WorkerIdentity } from '../../src/workers/worker-registry.js';
import { type ApiHarness, createApiHarness } from '../helpers/api-harness.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let api: ApiHarness;
let db: Db;
let session: WorkerIdentity;

beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  db = env.database.db;
  const { token } = await createToken(db, { name: 'pull session', ownerId: 'ops', scopes: ['worker'] });
  session = await pullWorker(db, token.id, ['IDEA_GRILL', 'PLAN_CHAT']);
});
afterAll(async () => {
  await api?.close();
  await env?.teardown();
});

/** `count` jobs of the kind enqueued in one call as the owner (a product of their own). */
async function enqueue(ownerId: string, kind: 'idea_grill' | 'plan_chat', count: number): Promise<string[]> {
  const product = await createProduct(db, ownerId, `${ownerId}'s product`);
  const ideas = await createIdeas(db, product, count, kind === 'idea_grill' ? 'DRAFT' : 'PLAN_READY');
  const jobs = ideas.map((idea_id) => (kind === 'idea_grill' ? { kind, idea_id } : { kind, idea_id, payload: { message: 'More.' } }));
  const answer = await api.call('POST', '/api/v1/jobs/batch', { jobs });
  expect(answer.status).toBe(202);
  return answer.body.jobs.map((job: { id: string }) => job.id);
}

const pull = async (kind: 'IDEA_GRILL' | 'PLAN_CHAT', ownerMaxRunning: number | null) =>
  (await pullJob(db, session, [kind], 60_000, ownerMaxRunning))?.job.id ?? null;

describe('pull mode', () => {
  it("takes turns between owners: B's one job is served right after A's first of thirty", async () => {
    const ofA = await enqueue('turns-a', 'idea_grill', 30);
    const [ofB] = await enqueue('turns-b', 'idea_grill', 1);
    expect([await pull('IDEA_GRILL', null), await pull('IDEA_GRILL', null), await pull('IDEA_GRILL', null)]).toEqual([ofA[0], ofB, ofA[1]]);
  });

  it('finds a job of an owner below their cap behind the jobs of more owners at their cap than a pull looks at', async () => {
    // Twenty-five owners, each with one job running (their cap) and one waiting.
    const waiting: string[] = [];
    for (let i = 0; i < 25; i += 1) {
      const [first, second] = await enqueue(`capped-${i}`, 'plan_chat', 2);
      expect(await pull('PLAN_CHAT', 1)).toBe(first);
      waiting.push(second!);
    }
    const [free] = await enqueue('below-cap', 'plan_chat', 1);
    expect(await pull('PLAN_CHAT', 1)).toBe(free);
    expect(await pull('PLAN_CHAT', 1)).toBeNull();
    const rows = await db.selectFrom('claude_jobs').select('status').where('id', 'in', waiting).execute();
    expect(rows.every((row) => row.status === 'QUEUED')).toBe(true);
  });
});
