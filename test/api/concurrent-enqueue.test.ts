/**
 * Enqueues that race for the same subjects: many grill and plan requests per idea at once, and
 * batches naming overlapping subjects in opposite orders. Each request is answered 202 or 409,
 * never a 500 from a deadlock, and every subject ends with one live job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullJobId } from '../../src/queues/job-queues.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { createIdeas, createProduct, createTasks } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let api: ApiHarness;
let auth: { authorization: string };
let productId: string;
beforeAll(async () => {
  env = await createTestEnv({ DB_POOL_MAX: '20' });
  api = await createApiHarness(env);
  auth = { authorization: `Bearer ${await api.token(['read', 'write', 'enqueue'], 'owner-a')}` };
  productId = await createProduct(env.database.db, 'owner-a');
});
afterAll(async () => {
  await api.close();
  await env.teardown();
});

async function liveJobs(subjectIds: readonly string[]) {
  return env.database.db
    .selectFrom('claude_jobs')
    .select(['subject_id', 'kind', 'status'])
    .where('subject_id', 'in', subjectIds)
    .where('status', 'in', ['QUEUED', 'CLAIMED', 'RUNNING'])
    .execute();
}

describe('concurrent enqueues for the same subjects', () => {
  it('answers every one of many simultaneous grill requests per idea with 202 or 409, and leaves each idea one queued grill', async () => {
    const ideas = await createIdeas(env.database.db, productId, 20);
    const requests = ideas.flatMap((id) => Array.from({ length: 6 }, () => api.call('POST', `/api/v1/ideas/${id}/grill`, {}, auth)));
    const answers = await Promise.all(requests);

    const unexpected = answers.filter((answer) => answer.status !== 202 && answer.status !== 409);
    expect(unexpected.map((answer) => `${answer.status} ${JSON.stringify(answer.body)}`)).toEqual([]);
    const live = await liveJobs(ideas);
    expect(live).toHaveLength(ideas.length);
    expect(new Set(live.map((job) => job.subject_id)).size).toBe(ideas.length);
    expect(live.every((job) => job.kind === 'IDEA_GRILL' && job.status === 'QUEUED')).toBe(true);
  });

  it('answers simultaneous plan requests for grilled ideas with 202 or 409, and leaves each idea one queued plan', async () => {
    const ideas = await createIdeas(env.database.db, productId, 10, 'GRILLED');
    const requests = ideas.flatMap((id) => Array.from({ length: 6 }, () => api.call('POST', `/api/v1/ideas/${id}/plan`, {}, auth)));
    const answers = await Promise.all(requests);

    expect(answers.filter((answer) => answer.status !== 202 && answer.status !== 409).map((answer) => answer.body)).toEqual([]);
    const live = await liveJobs(ideas);
    expect(live.map((job) => job.subject_id).sort()).toEqual([...ideas].sort());
  });

  it('enqueues batches that name the same tasks in opposite orders without a deadlock, one live job per task', async () => {
    const tasks = await createTasks(env.database.db, productId, 30);
    const forward = { jobs: tasks.map((task_id) => ({ kind: 'task_implementation', task_id })) };
    const backward = { jobs: [...forward.jobs].reverse() };
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => api.call('POST', '/api/v1/jobs/batch', i % 2 ? backward : forward, auth)),
    );

    expect(answers.filter((answer) => answer.status !== 202 && answer.status !== 409).map((answer) => answer.body)).toEqual([]);
    const live = await liveJobs(tasks);
    expect(live.map((job) => job.subject_id).sort()).toEqual([...tasks].sort());
  });

  it('answers waves of single enqueues for the same ideas, coalesced into successive batches: one queued job per idea, and only it in Redis', async () => {
    const ideas = await createIdeas(env.database.db, productId, 8);
    const chat = (idea_id: string) => api.call('POST', '/api/v1/jobs', { kind: 'plan_chat', idea_id, payload: { message: 'hi' } }, auth);
    // Each wave is sent while the one before is still being written, so later batches supersede
    // jobs of earlier ones whose adds to Redis may still be under way.
    const waves: Promise<{ status: number; body: unknown }>[] = [];
    for (let wave = 0; wave < 5; wave += 1) {
      waves.push(...ideas.flatMap((id) => [chat(id), chat(id)]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const answers = await Promise.all(waves);

    expect(answers.filter((answer) => answer.status !== 202).map((answer) => answer.body)).toEqual([]);
    const rows = await env.database.db
      .selectFrom('claude_jobs')
      .select(['id', 'kind', 'status', 'requeue_count', 'subject_id'])
      .where('subject_id', 'in', ideas)
      .execute();
    expect(rows).toHaveLength(ideas.length * 10);
    const queued = rows.filter((row) => row.status === 'QUEUED');
    expect(queued.map((row) => row.subject_id).sort()).toEqual([...ideas].sort());
    expect(rows.filter((row) => row.status !== 'QUEUED').every((row) => row.status === 'SKIPPED')).toBe(true);
    const inRedis = await Promise.all(
      rows.map(async (row) => ((await api.queues.queueOf(row).getJob(bullJobId(row))) ? row.status : null)),
    );
    expect(inRedis.filter((status) => status !== null).sort()).toEqual(queued.map(() => 'QUEUED'));
  });
});
