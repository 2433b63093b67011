/**
 * Provider limits against what a broken or hostile provider (or agent) says, and against races
 * with an admin: a wait too long to record, usage too large to store, a queue held again on a
 * stale view after a resume. Each once left jobs RUNNING or held for ever.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import { ProviderLimitError } from '../../src/errors/provider-limit.js';
import type { AgentRequest, Executor } from '../../src/executors/executor.js';
import { holdQueues } from '../../src/providers/provider-queues.js';
import { pauseProvider } from '../../src/providers/provider-states.js';
import { sweep } from '../../src/sweeper/sweep.js';
import { startWorkerPool, type WorkerPool } from '../../src/workers/worker-pool.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

let answer: (request: AgentRequest) => Promise<never> | Error | null = () => null;
let costUsd = 0.001;
const executor: Executor = {
  name: 'scripted',
  provider: 'scripted',
  async run(request) {
    const refusal = await answer(request);
    if (refusal) throw refusal;
    return { text: 'ok', data: null, usage: { inputTokens: 1, outputTokens: 1, costUsd }, agent: 'scripted' };
  },
};

let env: TestEnv;
let api: ApiHarness;
let db: Db;
let pool: WorkerPool;
let product: string;

beforeAll(async () => {
  env = await createTestEnv({ PROVIDER_RATE_LIMIT_DEFAULT_MS: '700' });
  api = await createApiHarness(env);
  db = env.database.db;
  product = await createProduct(db, 'review-limits');
  pool = await startWorkerPool({
    config: env.config,
    db,
    logger: env.logger,
    executor,
    kinds: ['IDEA_GRILL'],
    concurrency: 2,
    version: 'test',
  });
});
afterAll(async () => {
  await pool?.close(5_000);
  await api?.close();
  await env?.teardown();
});

const sweepOnce = () =>
  sweep(
    { db, queues: api.queues, logger: env.logger, leaseMs: 60_000, staleClaimMs: 60_000, maxRetries: 2, reconcileGraceMs: 0 },
    { judgeLeases: false },
  );

async function grill(): Promise<string> {
  const [idea] = await createIdeas(db, product, 1, 'DRAFT');
  const posted = await api.call('POST', '/api/v1/jobs', { kind: 'idea_grill', idea_id: idea });
  expect(posted.status).toBe(202);
  return posted.body.id;
}

const statusOf = async (id: string) =>
  (await db.selectFrom('claude_jobs').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;

async function resetProvider() {
  answer = () => null;
  costUsd = 0.001;
  await api.call('POST', '/api/v1/providers/scripted/resume');
  await sweepOnce();
}

describe('review of provider limits', () => {
  it('a limit with a huge retry-after gives the job back (it is not left RUNNING for the sweeper to fail)', async () => {
    let asked = false;
    // What an agent's `{"type":"provider_limit","retry_after_seconds":1e13}` line becomes (stream-json.ts accepts any finite number).
    let once = true;
    answer = () => {
      if (!once) return null;
      once = false;
      asked = true;
      return new ProviderLimitError('scripted', 'rate_limit', 1e16, 'slow down for a very long time');
    };
    const id = await grill();
    // The give-back must happen: QUEUED (paused) or, after a resume, DONE. An unbounded wait once
    // made pauseProvider throw "interval out of range", and the job's run was forgotten while RUNNING.
    await waitFor('the agent to meet the limit', async () => (asked ? true : undefined), { timeoutMs: 5_000 });
    // (the worker sweeper, with judgeLeases, would then fail it worker_lost: a job failed by a rate limit)
    await waitFor('the job to be given back', async () => (['QUEUED', 'DONE'].includes(await statusOf(id)) ? true : undefined), {
      timeoutMs: 5_000,
    });
    await resetProvider();
  });

  it("a queue held again by a worker's stale view after an admin resume is released by the sweeper", async () => {
    // A spend limit pauses the provider; a worker gives a delivery back with the hold it knows...
    const { hold } = await pauseProvider(
      db,
      { provider: 'scripted', limit: 'spend_limit', retryAfterMs: null, message: 'spend limit', kinds: ['IDEA_GRILL'], actorTokenId: null },
      { rateLimitDefaultMs: 700, backoffBaseMs: 100, backoffMaxMs: 1_000 },
    );
    await holdQueues(api.queues, hold);
    // ... an admin resumes (the route commits, then releases the queues) ...
    expect((await api.call('POST', '/api/v1/providers/scripted/resume')).status).toBe(200);
    // ... and the worker, whose gate still says "spend limit" until its next heartbeat, gives
    // another delivery back: waitForProvider -> holdQueues -> queue.pause() again.
    try {
      await holdQueues(api.queues, hold);
      await sweepOnce();
      const row = await db.selectFrom('providers').selectAll().where('name', '=', 'scripted').executeTakeFirstOrThrow();
      expect(row.status).toBe('ACTIVE');
      // Postgres says ACTIVE; nothing ever resumes the queue: every idea_grill job waits forever.
      expect(await api.queues.queue('IDEA_GRILL').isPaused()).toBe(false);
    } finally {
      await api.queues.queue('IDEA_GRILL').resume();
    }
  });

  it("an owner's spend near the column's limit does not leave that owner's jobs RUNNING forever", async () => {
    // What a command agent's `{"type":"usage","cost_usd":60000000}` line becomes (stream-json.ts accepts any finite number).
    costUsd = 60_000_000; // numeric(14,6) holds it once; the owner's day cannot take a second
    const first = await grill();
    await waitFor('the first job to finish', async () => ((await statusOf(first)) === 'DONE' ? true : undefined), { timeoutMs: 5_000 });
    const second = await grill();
    // Unbounded, the owner's day overflowed its column, finish() retried for ever and the heartbeat
    // kept renewing the lease: RUNNING for good (and so was every later job of this owner that day).
    await waitFor('the second job to end', async () => (['DONE', 'FAILED'].includes(await statusOf(second)) ? true : undefined), {
      timeoutMs: 8_000,
    });
    costUsd = 0.001;
  });
});
