/**
 * /metrics after a known set of jobs: 6 grills answered by a scripted Messages API (100 input and
 * 40 output tokens each) and 2 that fail, with one worker alive; plus /healthz, /readyz and who
 * may read the metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAnthropicExecutor, estimateCostUsd } from '../../src/executors/anthropic.executor.js';
import { startWorkerPool, type WorkerPool } from '../../src/workers/worker-pool.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { apiError, type FakeAnthropic, startFakeAnthropic, textMessage } from '../helpers/fake-anthropic.js';
import { startPrivateRedis } from '../helpers/redis-server.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';
import { sample } from '../helpers/metrics-sample.js';

const MODEL = 'claude-sonnet-4-6';
let env: TestEnv;
let api: ApiHarness;
let anthropic: FakeAnthropic;
let pool: WorkerPool;
let scraper: Record<string, string>;

beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  anthropic = await startFakeAnthropic({ whenEmpty: textMessage('# questions', { inputTokens: 100, outputTokens: 40 }) });
  pool = await startWorkerPool({
    config: env.config,
    db: env.database.db,
    logger: env.logger,
    executor: createAnthropicExecutor({
      apiKey: 'test-key',
      baseURL: anthropic.baseURL,
      model: MODEL,
      maxTokens: 1000,
      maxRetries: 0,
      timeoutMs: 10_000,
    }),
    kinds: ['IDEA_GRILL'],
    concurrency: 1,
    version: 'test',
  });
  scraper = { authorization: `Bearer ${await api.token(['worker'], 'system')}` };
});
afterAll(async () => {
  await pool.close(5_000);
  await anthropic.close();
  await api.close();
  await env.teardown();
});

describe('metrics', () => {
  it('count what a known set of jobs did', async () => {
    const db = env.database.db;
    const ideas = await createIdeas(db, await createProduct(db), 8, 'DRAFT');
    // The scripted API answers two of the eight with a 400, which fails those jobs.
    anthropic.respondWith(apiError(400, 'invalid_request_error'), apiError(400, 'invalid_request_error'));
    const { body } = await api.call('POST', '/api/v1/jobs/batch', { jobs: ideas.map((idea_id) => ({ kind: 'idea_grill', idea_id })) });
    const ids = body.jobs.map((job: { id: string }) => job.id);
    await waitFor('every job to finish', async () => {
      const rows = await db.selectFrom('claude_jobs').select('status').where('id', 'in', ids).execute();
      return rows.every((row) => row.status === 'DONE' || row.status === 'FAILED');
    });

    const response = await api.call('GET', '/metrics', undefined, scraper);
    expect(response.status).toBe(200);
    const text = response.body as string;
    expect(sample(text, 'jobfleet_jobs', { kind: 'idea_grill', status: 'done' })).toBe(6);
    expect(sample(text, 'jobfleet_jobs', { kind: 'idea_grill', status: 'failed' })).toBe(2);
    expect(sample(text, 'jobfleet_transitions_total', { entity: 'job', status: 'queued' })).toBe(8);
    expect(sample(text, 'jobfleet_transitions_total', { entity: 'job', status: 'running' })).toBe(8);
    expect(sample(text, 'jobfleet_transitions_total', { entity: 'job', status: 'done' })).toBe(6);
    expect(sample(text, 'jobfleet_transitions_total', { entity: 'idea', status: 'grilled' })).toBe(6);
    expect(sample(text, 'jobfleet_transitions_total', { entity: 'idea', status: 'grill_failed' })).toBe(2);
    expect(sample(text, 'jobfleet_job_duration_seconds_count', { kind: 'idea_grill' })).toBe(8);
    expect(sample(text, 'jobfleet_job_duration_seconds_bucket', { kind: 'idea_grill', le: '+Inf' })).toBe(8);
    expect(sample(text, 'jobfleet_agent_tokens_total', { kind: 'idea_grill', direction: 'input' })).toBe(600);
    expect(sample(text, 'jobfleet_agent_tokens_total', { kind: 'idea_grill', direction: 'output' })).toBe(240);
    expect(sample(text, 'jobfleet_agent_cost_usd_total', { kind: 'idea_grill' })).toBeCloseTo(6 * estimateCostUsd(MODEL, 100, 40), 6);
    expect(sample(text, 'jobfleet_workers_live')).toBe(1);
    expect(sample(text, 'jobfleet_queue_jobs', { kind: 'idea_grill', state: 'waiting' })).toBe(0);
    expect(sample(text, 'jobfleet_queue_jobs', { kind: 'idea_grill', state: 'active' })).toBe(0);
    expect(text).toContain('# TYPE jobfleet_job_duration_seconds histogram');
    expect(text).toContain('# TYPE jobfleet_transitions_total counter');
  });

  it('refuse anonymous callers, and callers without the admin or worker scope', async () => {
    const anonymous = await api.call('GET', '/metrics', undefined, { authorization: '' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('unauthorized');
    const reader = await api.call('GET', '/metrics', undefined, { authorization: `Bearer ${await api.token(['read'])}` });
    expect(reader.status).toBe(403);
    expect((await api.call('GET', '/metrics')).status).toBe(200);
  });

  it('are open to anyone when METRICS_PUBLIC is true', async () => {
    const open = await createTestEnv({ METRICS_PUBLIC: 'true' });
    const openApi = await createApiHarness(open);
    try {
      expect((await openApi.call('GET', '/metrics', undefined, { authorization: '' })).status).toBe(200);
    } finally {
      await openApi.close();
      await open.teardown();
    }
  });
});

describe('health', () => {
  it('is not ready, naming Redis, when Redis does not answer', async () => {
    const redis = await startPrivateRedis();
    const lonely = await createTestEnv({}, { redisUrl: redis.url });
    const lonelyApi = await createApiHarness(lonely);
    try {
      await redis.stop();
      const ready = await lonelyApi.call('GET', '/readyz', undefined, { authorization: '' });
      expect(ready.status).toBe(503);
      expect(ready.body.status).toBe('unavailable');
      expect(ready.body.checks.postgres).toBe('ok');
      expect(ready.body.checks.redis).not.toBe('ok');
    } finally {
      await lonelyApi.close();
      await lonely.teardown();
    }
  });

  it('says the process is up, and that Postgres and Redis answer, without a token', async () => {
    expect(await api.call('GET', '/healthz', undefined, { authorization: '' })).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await api.call('GET', '/readyz', undefined, { authorization: '' })).toEqual({
      status: 200,
      body: { status: 'ready', checks: { postgres: 'ok', redis: 'ok' } },
    });
  });
});
