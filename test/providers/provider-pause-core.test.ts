/**
 * The worker's side of a provider's limits and an owner's budget, with a scripted executor
 * standing in for the provider (the executors' own mapping of 429/529/spend limits is tested
 * against the fake Anthropic server elsewhere): a limit gives the job back and pauses the
 * provider's kinds until the pause ends, no agent call is made meanwhile, no attempt is spent;
 * a spend limit holds until an admin resumes; a budget stops the agent; a spent owner waits.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import type { OwnedEvent } from '../../src/events/fleet-event.js';
import { ProviderLimitError } from '../../src/errors/provider-limit.js';
import { AgentAbortedError, type AgentRequest, type Executor } from '../../src/executors/executor.js';
import { sweep } from '../../src/sweeper/sweep.js';
import { startWorkerPool, type WorkerPool } from '../../src/workers/worker-pool.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { createIdeas, createProduct, createSprintRuns } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

/** A provider that refuses (by the script) until told otherwise, and records each call's time. */
function scriptedProvider() {
  const calls: number[] = [];
  let refuse: ((request: AgentRequest) => Error | null) | null = null;
  const executor: Executor = {
    name: 'scripted',
    provider: 'scripted',
    async run(request) {
      calls.push(Date.now());
      const refusal = refuse?.(request) ?? null;
      if (refusal) throw refusal;
      if (request.meter && request.prompt.user.includes('expensive')) {
        // Streams usage until the meter stops it at the budget, as a real executor does.
        for (let i = 0; i < 1000 && !request.signal.aborted; i += 1) {
          request.meter.add({ outputTokens: 100, costUsd: 0.01, turns: i === 0 ? 1 : 0 });
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        throw new AgentAbortedError(String(request.signal.reason), { partial_output: 'half an answer' });
      }
      return { text: 'ok', data: null, usage: { inputTokens: 10, outputTokens: 5, costUsd: 0.002 }, agent: 'scripted' };
    },
  };
  return {
    executor,
    calls,
    refuseWith(next: typeof refuse) {
      refuse = next;
    },
  };
}

let env: TestEnv;
let api: ApiHarness;
let db: Db;
let pool: WorkerPool;
let product: string;
const provider = scriptedProvider();
let workerNow = new Date('2026-12-02T12:00:00Z');
let apiNow = workerNow;

beforeAll(async () => {
  // A fleet-wide default budget (generous) makes every worker judge owners' days from its first
  // claim; without one a worker notices the first owner budget an admin sets within a heartbeat.
  env = await createTestEnv({ PROVIDER_RATE_LIMIT_DEFAULT_MS: '700', BUDGET_RECHECK_MS: '200', OWNER_DAILY_BUDGET_USD: '1000' });
  api = await createApiHarness(env, { clock: () => apiNow });
  db = env.database.db;
  product = await createProduct(db, 'owner-limits');
  pool = await startWorkerPool({
    config: env.config,
    db,
    logger: env.logger,
    executor: provider.executor,
    kinds: ['IDEA_GRILL'],
    concurrency: 5,
    version: 'test',
    clock: () => workerNow,
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

async function grill(count: number, body: object = {}) {
  const ideas = await createIdeas(db, product, count, 'DRAFT');
  const ids: string[] = [];
  for (const idea of ideas) {
    const posted = await api.call('POST', '/api/v1/jobs', { kind: 'idea_grill', idea_id: idea, ...body });
    expect(posted.status).toBe(202);
    ids.push(posted.body.id);
  }
  return ids;
}

const jobsOf = (ids: string[]) => db.selectFrom('claude_jobs').selectAll().where('id', 'in', ids).execute();

describe('a rate limit', () => {
  it('gives the jobs back without spending attempts, pauses the provider, and they all finish after it', async () => {
    let until = Date.now() + 1_500;
    provider.refuseWith(() =>
      Date.now() < until ? new ProviderLimitError('scripted', 'rate_limit', until - Date.now(), 'slow down') : null,
    );
    const ids = await grill(10);
    const paused = await waitFor('the provider to pause', async () => {
      const row = await db.selectFrom('providers').selectAll().where('name', '=', 'scripted').executeTakeFirst();
      return row?.status === 'PAUSED' ? row : undefined;
    });
    until = Math.min(until, paused.resume_at!.getTime());
    const done = await waitFor(
      'every job to finish',
      async () => {
        await sweepOnce();
        const jobs = await jobsOf(ids);
        return jobs.every((job) => job.status === 'DONE' || job.status === 'FAILED') ? jobs : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(done.map((job) => job.status)).toEqual(ids.map(() => 'DONE'));
    expect(done.map((job) => job.attempt_count)).toEqual(ids.map(() => 1));
    // Calls made while the pause was in force: none (those before it came back 429 and caused it).
    const duringPause = provider.calls.filter((at) => at > paused.paused_at!.getTime() + 50 && at < paused.resume_at!.getTime() - 50);
    expect(duringPause).toEqual([]);
    const history = await db
      .selectFrom('transitions')
      .select(['trigger', 'to_status'])
      .where('entity_type', '=', 'PROVIDER')
      .orderBy('id')
      .execute();
    expect(history.map((row) => row.trigger)).toEqual(expect.arrayContaining(['rate_limited', 'pause_ended']));
    const waited = await db.selectFrom('transitions').select('reason').where('trigger', '=', 'provider_paused').execute();
    expect(waited.length).toBeGreaterThan(0);
    expect(waited[0]!.reason).toContain('waiting: provider scripted is paused (rate_limit');
  });
});

describe('a spend limit', () => {
  it('holds the jobs until an admin resumes the provider', async () => {
    provider.refuseWith(() => new ProviderLimitError('scripted', 'spend_limit', null, 'your credit balance is too low'));
    const ids = await grill(3);
    await waitFor('the provider to pause for its spend limit', async () => {
      const { body } = await api.call('GET', '/api/v1/providers');
      const row = body.providers.find((p: { name: string }) => p.name === 'scripted');
      return row?.status === 'paused' && row.reason === 'spend_limit' && row.until === null ? row : undefined;
    });
    await waitFor('the jobs to wait', async () => {
      const jobs = await jobsOf(ids);
      return jobs.every((job) => job.status === 'QUEUED') ? jobs : undefined;
    });
    const callsWhenPaused = provider.calls.length;
    await sweepOnce();
    // Redis loses everything of this fleet (its keys, as a FLUSHALL would on a server of its own):
    // the next sweep puts the jobs back on their queue and holds it again, from Postgres.
    await env.deleteKeys();
    expect(await api.queues.queue('IDEA_GRILL').isPaused()).toBe(false);
    await sweepOnce();
    expect(await api.queues.queue('IDEA_GRILL').isPaused()).toBe(true);
    expect(await api.queues.queue('IDEA_GRILL').getJobCountByTypes('prioritized')).toBe(ids.length);
    await sweepOnce();
    // Nothing was retried in a loop while paused.
    expect(provider.calls.length).toBe(callsWhenPaused);
    expect((await jobsOf(ids)).map((job) => job.status)).toEqual(ids.map(() => 'QUEUED'));

    provider.refuseWith(null);
    const reader = await api.token(['read'], 'owner-limits');
    expect((await api.call('POST', '/api/v1/providers/scripted/resume', undefined, { authorization: `Bearer ${reader}` })).status).toBe(
      403,
    );
    expect((await api.call('POST', '/api/v1/providers/nobody/resume')).status).toBe(404);
    const resumed = await api.call('POST', '/api/v1/providers/scripted/resume');
    expect(resumed.status).toBe(200);
    expect(resumed.body.status).toBe('active');
    const done = await waitFor(
      'the jobs to run after the resume',
      async () => {
        const jobs = await jobsOf(ids);
        return jobs.every((job) => job.status === 'DONE') ? jobs : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(done.map((job) => job.attempt_count)).toEqual(ids.map(() => 1));
  });
});

describe('budgets', () => {
  it('stops an agent at max_cost_usd and fails the job budget_exceeded with its partial output and usage', async () => {
    const ideas = await createIdeas(db, product, 1, 'DRAFT');
    await db.updateTable('ideas').set({ title: 'an expensive idea' }).where('id', '=', ideas[0]!).execute();
    const heard: OwnedEvent[] = [];
    const unsubscribe = api.deps.events.subscribe((events) => heard.push(...events));
    const posted = await api.call('POST', '/api/v1/jobs', { kind: 'idea_grill', idea_id: ideas[0], budget: { max_cost_usd: 0.05 } });
    expect(posted.status).toBe(202);
    expect(posted.body.budget).toEqual({ max_cost_usd: 0.05 });
    const job = await waitFor('the job to fail', async () => {
      const { body } = await api.call('GET', `/api/v1/jobs/${posted.body.id}`);
      return body.status === 'failed' ? body : undefined;
    });
    expect(job.error.code).toBe('budget_exceeded');
    expect(job.error.details.ceiling).toBe('max_cost_usd');
    expect(job.error.details.partial_output).toBe('half an answer');
    expect(job.error.details.usage.cost_usd).toBeGreaterThanOrEqual(0.05);
    expect(Number(job.usage.cost_usd)).toBeGreaterThanOrEqual(0.05);
    // The fleet hears it: a budget_exceeded notice for its owner.
    const notice = await waitFor('the budget_exceeded notice', async () =>
      heard.find(({ event }) => event.type === 'budget_exceeded' && event.entity_id === posted.body.id),
    );
    unsubscribe();
    expect(notice.ownerId).toBe('owner-limits');
  });

  it('refuses a bad budget with 422', async () => {
    const [idea] = await createIdeas(db, product, 1, 'DRAFT');
    for (const budget of [{ max_cost_usd: -1 }, { max_turns: 'x' }, { nope: 1 }, {}]) {
      const posted = await api.call('POST', '/api/v1/jobs', { kind: 'idea_grill', idea_id: idea, budget });
      expect(posted.status).toBe(422);
    }
  });

  it('refuses an owner whose day is spent, holds their queued jobs, and runs them the next UTC day', async () => {
    // The owner spent 5 USD on 2 December against a budget of 0.01 a day.
    expect((await api.call('PUT', '/api/v1/owners/owner-limits/budget', { daily_usd: 0.01 })).status).toBe(200);
    // (The jobs above already spent a little that day: what a finished job costs is counted.)
    const before = await db
      .selectFrom('owner_daily_spend')
      .select('cost_usd')
      .where('owner_id', '=', 'owner-limits')
      .executeTakeFirstOrThrow();
    expect(Number(before.cost_usd)).toBeGreaterThan(0);
    await db
      .updateTable('owner_daily_spend')
      .set({ cost_usd: 5 })
      .where('owner_id', '=', 'owner-limits')
      .where('day', '=', '2026-12-02')
      .execute();
    // The API still lives on 1 December: the enqueue is accepted; the worker, on the 2nd, holds the job.
    apiNow = new Date('2026-12-01T23:59:00Z');
    const queued = await grill(1);
    await waitFor('the job to be given back for the budget', async () => {
      const rows = await db
        .selectFrom('transitions')
        .select(['trigger', 'reason'])
        .where('entity_id', '=', queued[0]!)
        .where('trigger', '=', 'owner_budget_spent')
        .execute();
      return rows.length > 0 ? rows : undefined;
    });
    expect((await jobsOf(queued))[0]!.status).toBe('QUEUED');

    apiNow = new Date('2026-12-02T12:00:00Z');
    const [idea] = await createIdeas(db, product, 1, 'DRAFT');
    const refused = await api.call('POST', '/api/v1/jobs', { kind: 'idea_grill', idea_id: idea });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('budget_exhausted');
    const day = await api.call('GET', '/api/v1/owners/owner-limits/budget');
    expect(day.body).toMatchObject({
      owner_id: 'owner-limits',
      daily_usd: 0.01,
      source: 'owner',
      day: '2026-12-02',
      spent_usd: 5,
      exhausted: true,
    });
    // A sprint run is an enqueue too: resuming one is refused before anything changes.
    const [run] = await createSprintRuns(db, product, 1);
    const resume = await api.call('POST', `/api/v1/sprint-runs/${run}/resume`, {});
    expect(resume.status).toBe(409);
    expect(resume.body.error.code).toBe('budget_exhausted');
    const stranger = await api.token(['read'], 'someone-else');
    expect((await api.call('GET', '/api/v1/owners/owner-limits/budget', undefined, { authorization: `Bearer ${stranger}` })).status).toBe(
      404,
    );
    expect((await api.call('PUT', '/api/v1/owners/owner-limits/budget', { daily_usd: -1 })).status).toBe(422);

    // The next UTC day, the waiting job runs and the owner may enqueue again.
    workerNow = new Date('2026-12-03T00:00:01Z');
    apiNow = workerNow;
    const done = await waitFor('the job to run the next day', async () => {
      const jobs = await jobsOf(queued);
      return jobs[0]!.status === 'DONE' ? jobs : undefined;
    });
    expect(done[0]!.attempt_count).toBe(1);
    expect((await api.call('POST', '/api/v1/jobs', { kind: 'idea_grill', idea_id: idea })).status).toBe(202);
  });
});
