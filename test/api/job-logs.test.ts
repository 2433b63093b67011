/**
 * GET /api/v1/jobs/{id}/logs: a job's lines from its idea's log (its own rows only) and from its
 * worker (BullMQ's log of each delivery), read on from an opaque position so that polling returns
 * only what is new, paged by a limit; scoped like GET /jobs/{id}. Also the pages' routes: a page
 * per job and per sprint run behind the fleet page's login, 404 for an id that is no UUID.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullJobId } from '../../src/queues/job-queues.js';
import { type ApiHarness, createApiHarness } from '../helpers/api-harness.js';
import { type PrivateRedis, startPrivateRedis } from '../helpers/redis-server.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

let env: TestEnv;
let api: ApiHarness;
let productId: string;

beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  productId = await createProduct(env.database.db, 'owner-a');
});
afterAll(async () => {
  await api.close();
  await env.teardown();
});

/** A chat job on a plan-ready idea: its message is a row of the idea's log; no worker runs it. */
async function chatJob(ideaId: string, message: string) {
  const reply = await api.call('POST', `/api/v1/ideas/${ideaId}/chat`, { message });
  expect(reply.status).toBe(202);
  return reply.body as { id: string };
}

const workerLog = (job: { id: string }, line: string, requeues = 0) =>
  api.queues.queueOf({ id: job.id, kind: 'PLAN_CHAT' }).addJobLog(bullJobId({ id: job.id, requeue_count: requeues }), line);

async function logs(id: string, query = '', authorization?: string) {
  return api.call('GET', `/api/v1/jobs/${id}/logs${query}`, undefined, authorization ? { authorization } : {});
}

describe('GET /api/v1/jobs/{id}/logs', () => {
  it("returns the job's idea log rows and worker lines, then only what was written since", async () => {
    const [ideaId] = await createIdeas(env.database.db, productId, 1, 'PLAN_READY');
    const job = await chatJob(ideaId!, 'First question?');
    // A row of another job of the same idea is not this job's.
    await env.database.db
      .insertInto('idea_logs')
      .values({ idea_id: ideaId!, type: 'CHAT_MESSAGE', content: 'Not this job.', job_id: randomUUID() })
      .execute();
    await workerLog(job, 'agent: starting');
    await workerLog(job, 'progress: 50% halfway');

    const first = await logs(job.id);
    expect(first.status).toBe(200);
    expect(first.body.items).toEqual([
      { source: 'idea_log', type: 'chat_message', text: 'First question?', delivery: null, at: expect.any(String) },
      { source: 'worker', type: null, text: 'agent: starting', delivery: 0, at: null },
      { source: 'worker', type: null, text: 'progress: 50% halfway', delivery: 0, at: null },
    ]);
    expect(first.body.more).toBe(false);

    // Nothing new: nothing returned, and a position to poll from again.
    const idle = await logs(job.id, `?after=${first.body.next_after}`);
    expect(idle.body.items).toEqual([]);

    await workerLog(job, 'agent: done');
    await env.database.db
      .insertInto('idea_logs')
      .values({ idea_id: ideaId!, type: 'CHAT_REPLY', content: 'An answer.', job_id: job.id })
      .execute();
    const since = await logs(job.id, `?after=${idle.body.next_after}`);
    expect(since.body.items.map((line: any) => [line.source, line.text])).toEqual([
      ['idea_log', 'An answer.'],
      ['worker', 'agent: done'],
    ]);
  });

  it('pages by its limit, and reads on into a later delivery after a requeue', async () => {
    const [ideaId] = await createIdeas(env.database.db, productId, 1, 'PLAN_READY');
    const job = await chatJob(ideaId!, 'Paged?');
    for (const line of ['one', 'two', 'three']) await workerLog(job, line);

    const texts: string[] = [];
    let after = '';
    for (let reads = 0; reads < 10; reads += 1) {
      const page = await logs(job.id, `?limit=2${after ? `&after=${after}` : ''}`);
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      texts.push(...page.body.items.map((line: any) => line.text));
      after = page.body.next_after;
      if (!page.body.more) break;
    }
    expect(texts).toEqual(['Paged?', 'one', 'two', 'three']);

    // The sweeper requeued it: a new delivery, whose lines follow the first's.
    await env.database.db.updateTable('claude_jobs').set({ requeue_count: 1 }).where('id', '=', job.id).execute();
    await api.queues.queueOf({ id: job.id, kind: 'PLAN_CHAT' }).add('PLAN_CHAT', { id: job.id }, { jobId: `${job.id}-r1` });
    await workerLog(job, 'again, on another worker', 1);
    const later = await logs(job.id, `?after=${after}`);
    expect(later.body.items).toEqual([{ source: 'worker', type: null, text: 'again, on another worker', delivery: 1, at: null }]);
  });

  it("is scoped like the job: 404 for another owner's read token, 200 for a worker token; a bad position is 422", async () => {
    const [ideaId] = await createIdeas(env.database.db, productId, 1, 'PLAN_READY');
    const job = await chatJob(ideaId!, 'Whose?');
    const stranger = await api.token(['read'], 'owner-b');
    const refused = await logs(job.id, '', `Bearer ${stranger}`);
    expect(refused.status).toBe(404);
    expect(refused.body.error.code).toBe('not_found');
    expect(refused.body.error.message).toBe(`job ${job.id} does not exist`);

    const owner = await api.token(['read'], 'owner-a');
    expect((await logs(job.id, '', `Bearer ${owner}`)).status).toBe(200);
    const worker = await api.token(['worker'], 'system');
    expect((await logs(job.id, '', `Bearer ${worker}`)).status).toBe(200);
    expect((await logs(job.id, '', 'Bearer not-a-token')).status).toBe(401);

    expect((await logs('not-a-uuid')).status).toBe(404);
    const forged = await logs(job.id, `?after=${Buffer.from('{"delivery":-1}').toString('base64url')}`);
    expect(forged.status).toBe(422);
    expect((await logs(job.id, '?limit=0')).status).toBe(422);
  });
});

describe('GET /api/v1/jobs/{id}/logs while Redis is down', () => {
  // A Redis of its own: this test stops it.
  let redis: PrivateRedis;
  let ownEnv: TestEnv;
  let ownApi: ApiHarness;
  beforeAll(async () => {
    redis = await startPrivateRedis();
    ownEnv = await createTestEnv({}, { redisUrl: redis.url });
    ownApi = await createApiHarness(ownEnv);
  });
  afterAll(async () => {
    await ownApi?.close();
    await ownEnv?.teardown();
    await redis?.stop();
  });

  it("answers with the idea's rows and says the worker's lines are unavailable; they follow once Redis is back", async () => {
    const db = ownEnv.database.db;
    const [ideaId] = await createIdeas(db, await createProduct(db, 'owner-a'), 1, 'PLAN_READY');
    const reply = await ownApi.call('POST', `/api/v1/ideas/${ideaId}/chat`, { message: 'Still there?' });
    expect(reply.status).toBe(202);
    const job = reply.body as { id: string };
    const queue = ownApi.queues.queueOf({ id: job.id, kind: 'PLAN_CHAT' });
    await queue.addJobLog(bullJobId({ id: job.id, requeue_count: 0 }), 'agent: before the outage');

    await redis.stop();
    await waitFor('the producer connection to notice Redis is gone', async () => ownApi.queues.connection.status !== 'ready', {
      timeoutMs: 10_000,
    });
    const during = await ownApi.call('GET', `/api/v1/jobs/${job.id}/logs`);
    expect(during.status, JSON.stringify(during.body)).toBe(200);
    expect(during.body.items.map((line: any) => [line.source, line.text])).toEqual([['idea_log', 'Still there?']]);
    expect(during.body.worker_unavailable).toBe(true);
    expect(during.body.more).toBe(false);

    await redis.start();
    await waitFor('the producer connection to come back', async () => ownApi.queues.connection.status === 'ready', { timeoutMs: 15_000 });
    // The private server saves nothing: it comes back empty; the sweep queues the job again, and a worker writes on.
    await queue.add('PLAN_CHAT', { id: job.id }, { jobId: job.id });
    await queue.addJobLog(bullJobId({ id: job.id, requeue_count: 0 }), 'agent: after the outage');
    const after = await ownApi.call('GET', `/api/v1/jobs/${job.id}/logs?after=${during.body.next_after}`);
    expect(after.body.worker_unavailable).toBe(false);
    // Only the worker's lines: the idea's row was read already.
    expect(after.body.items.every((line: any) => line.source === 'worker')).toBe(true);
    expect(after.body.items.at(-1).text).toBe('agent: after the outage');
  });
});

describe('the job and sprint-run pages', () => {
  it('are served behind the login, with a 404 page for an id that is no UUID', async () => {
    const id = '0199a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d';
    const anonymous = await api.call('GET', `/jobs/${id}`, undefined, { authorization: '' });
    expect(anonymous.status).toBe(401);
    const enqueueOnly = await api.token(['enqueue']);
    expect((await api.call('GET', `/jobs/${id}`, undefined, { authorization: `Bearer ${enqueueOnly}` })).status).toBe(403);

    const page = await api.call('GET', `/jobs/${id}`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<script src="/job.js" type="module">');
    const run = await api.call('GET', `/sprint-runs/${id}`);
    expect(run.status).toBe(200);
    expect(run.body).toContain('<script src="/sprint-run.js" type="module">');
    for (const path of ['/jobs/not-a-uuid', '/sprint-runs/12345']) {
      const missing = await api.call('GET', path);
      expect(missing.status).toBe(404);
      expect(missing.body).toContain('No such');
    }
    for (const asset of [
      '/job.js',
      '/job-sections.js',
      '/sprint-run.js',
      '/detail-api.js',
      '/timeline.js',
      '/questions.js',
      '/questions.css',
      '/page.css',
      '/detail.css',
    ]) {
      expect((await api.call('GET', asset)).status, asset).toBe(200);
    }
    // The fleet page's answer forms come from the shared module.
    expect((await api.call('GET', '/fleet.js')).body).toContain("from './questions.js'");
  });
});
