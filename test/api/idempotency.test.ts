/**
 * Idempotency-Key on every POST that enqueues: a retry with the same key and body answers the
 * first answer again and creates nothing; another body is refused; duplicates in flight at once
 * make one job; keys belong to their token and expire.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { createIdeas, createProduct, createTasks } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let api: ApiHarness;
let alice: string;
let productId: string;
beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  alice = await api.token(['read', 'write', 'enqueue'], 'alice');
  productId = await createProduct(env.database.db, 'alice');
});
afterAll(async () => {
  await api.close();
  await env.teardown();
});

let keys = 0;
const newKey = () => `key-${Date.now()}-${(keys += 1)}`;

async function post(path: string, body: unknown, key: string | null, secret = alice) {
  const response = await api.app.request(`/api/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any, replayed: response.headers.get('idempotent-replayed') };
}

async function jobCount(): Promise<number> {
  const { count } = await env.database.db
    .selectFrom('claude_jobs')
    .select(({ fn }) => fn.countAll<string>().as('count'))
    .executeTakeFirstOrThrow();
  return Number(count);
}

describe('Idempotency-Key', () => {
  it('answers a retry with the same key and body with the first answer, marked replayed, and enqueues no second job', async () => {
    const [task] = await createTasks(env.database.db, productId, 1);
    const key = newKey();
    const first = await post('/jobs', { kind: 'task_implementation', task_id: task }, key);
    expect(first.status).toBe(202);
    expect(first.replayed).toBeNull();
    const before = await jobCount();

    const retry = await post('/jobs', { kind: 'task_implementation', task_id: task }, key);
    expect(retry.status).toBe(202);
    expect(retry.replayed).toBe('true');
    expect(retry.body).toEqual(first.body);
    expect(await jobCount()).toBe(before);
    const live = await env.database.db
      .selectFrom('claude_jobs')
      .select('id')
      .where('task_id', '=', task!)
      .where('status', '=', 'QUEUED')
      .execute();
    expect(live.map((row) => row.id)).toEqual([first.body.id]);
  });

  it('replays on every route that enqueues: batch, grill, plan, chat and sprint runs', async () => {
    const db = env.database.db;
    const [draft] = await createIdeas(db, productId, 1, 'DRAFT');
    const [grilled] = await createIdeas(db, productId, 1, 'GRILLED');
    const [ready] = await createIdeas(db, productId, 1, 'PLAN_READY');
    const tasks = await createTasks(db, productId, 2);
    const call = (method: string, path: string, body: unknown) =>
      api.call(method, `/api/v1${path}`, body, { authorization: `Bearer ${alice}` });
    const sprint = (await call('POST', '/sprints', { product_id: productId, name: 'Sprint' })).body;
    const pbi = (await call('POST', '/pbis', { product_id: productId, title: 'PBI' })).body;
    const story = (await call('POST', '/stories', { pbi_id: pbi.id, title: 'Story' })).body;
    await call('POST', `/stories/${story.id}/transitions`, { to: 'in_sprint', sprint_id: sprint.id });
    await call('POST', '/tasks', { story_id: story.id, title: 'Task', implementation_plan: 'Do it.' });

    const routes: [string, unknown][] = [
      ['/jobs/batch', { jobs: tasks.map((task_id) => ({ kind: 'task_implementation', task_id })) }],
      [`/ideas/${draft}/grill`, { answers: 'Small teams.' }],
      [`/ideas/${grilled}/plan`, { guidance: 'Keep it small.' }],
      [`/ideas/${ready}/chat`, { message: 'Split the first story?' }],
      [`/sprints/${sprint.id}/runs`, { mode: 'per_task' }],
    ];
    for (const [path, body] of routes) {
      const key = newKey();
      const first = await post(path, body, key);
      expect(first.status, `${path}: ${JSON.stringify(first.body)}`).toBe(202);
      const before = await jobCount();
      const retry = await post(path, body, key);
      expect({ path, status: retry.status, replayed: retry.replayed }).toEqual({ path, status: 202, replayed: 'true' });
      expect(retry.body).toEqual(first.body);
      expect(await jobCount(), path).toBe(before);
    }
  });

  it('answers 422 naming Idempotency-Key when the same key comes with another body, and enqueues nothing', async () => {
    const tasks = await createTasks(env.database.db, productId, 2);
    const key = newKey();
    expect((await post('/jobs', { kind: 'task_implementation', task_id: tasks[0] }, key)).status).toBe(202);
    const before = await jobCount();

    const other = await post('/jobs', { kind: 'task_implementation', task_id: tasks[1] }, key);
    expect(other.status).toBe(422);
    expect(other.body.error.details.issues).toEqual([
      { path: 'Idempotency-Key', message: 'already used with another method, path or body' },
    ]);
    const elsewhere = await post('/jobs/batch', { jobs: [{ kind: 'task_implementation', task_id: tasks[0] }] }, key);
    expect(elsewhere.status).toBe(422);
    expect(await jobCount()).toBe(before);
  });

  it('makes one job of many requests with one key sent at once, and answers each with its id', async () => {
    const [idea] = await createIdeas(env.database.db, productId, 1, 'DRAFT');
    const key = newKey();
    const before = await jobCount();
    const answers = await Promise.all(Array.from({ length: 8 }, () => post(`/ideas/${idea}/grill`, {}, key)));

    expect(answers.map((answer) => answer.status)).toEqual(Array(8).fill(202));
    expect(new Set(answers.map((answer) => answer.body.id)).size).toBe(1);
    expect(answers.filter((answer) => answer.replayed === 'true')).toHaveLength(7);
    expect(await jobCount()).toBe(before + 1);
  });

  it("keeps keys per token: another owner sending the same key gets its own answer, never the first owner's", async () => {
    const bob = await api.token(['read', 'write', 'enqueue'], 'bob');
    const [taskOfAlice] = await createTasks(env.database.db, productId, 1);
    const [taskOfBob] = await createTasks(env.database.db, await createProduct(env.database.db, 'bob'), 1);
    const key = newKey();
    const first = await post('/jobs', { kind: 'task_implementation', task_id: taskOfAlice }, key);

    const sameBody = await post('/jobs', { kind: 'task_implementation', task_id: taskOfAlice }, key, bob);
    expect(sameBody.status).toBe(404);
    const own = await post('/jobs', { kind: 'task_implementation', task_id: taskOfBob }, key, bob);
    expect(own.status).toBe(202);
    expect(own.replayed).toBeNull();
    expect(own.body.id).not.toBe(first.body.id);
  });

  it('stores nothing for a refused request, so the same key may be used again once the request is fixed', async () => {
    const [task] = await createTasks(env.database.db, productId, 1);
    const key = newKey();
    expect((await post('/jobs', { kind: 'task_implementation', task_id: crypto.randomUUID() }, key)).status).toBe(404);
    const fixed = await post('/jobs', { kind: 'task_implementation', task_id: task }, key);
    expect(fixed.status).toBe(202);
    expect(fixed.replayed).toBeNull();
  });

  it('forgets a key once it has expired: the same request then enqueues again', async () => {
    const [task] = await createTasks(env.database.db, productId, 1);
    const key = newKey();
    const first = await post('/jobs', { kind: 'task_implementation', task_id: task }, key);
    await env.database.db
      .updateTable('idempotency_keys')
      .set({ expires_at: sql<Date>`now() - interval '1 second'` })
      .where('key', '=', key)
      .execute();

    const later = await post('/jobs', { kind: 'task_implementation', task_id: task }, key);
    expect(later.status).toBe(202);
    expect(later.replayed).toBeNull();
    expect(later.body.id).not.toBe(first.body.id);
  });

  it('is documented as a header parameter of every POST that enqueues in the OpenAPI document', async () => {
    const response = await api.call('GET', '/api/v1/openapi.json', undefined, { authorization: '' });
    expect(response.status, JSON.stringify(response.body).slice(0, 500)).toBe(200);
    const document = response.body;
    const paths = ['/jobs', '/jobs/batch', '/ideas/{id}/grill', '/ideas/{id}/plan', '/ideas/{id}/chat', '/sprints/{id}/runs'];
    for (const path of paths) {
      const parameters = document.paths[`/api/v1${path}`].post.parameters ?? [];
      expect(
        parameters.filter((p: { in: string }) => p.in === 'header').map((p: { name: string }) => p.name.toLowerCase()),
        path,
      ).toEqual(['idempotency-key']);
    }
  });

  it('refuses a malformed key with 422 naming the header', async () => {
    const [task] = await createTasks(env.database.db, productId, 1);
    const answer = await post('/jobs', { kind: 'task_implementation', task_id: task }, 'has spaces in it');
    expect(answer.status).toBe(422);
    expect(JSON.stringify(answer.body.error.details)).toContain('idempotency-key');
  });
});
