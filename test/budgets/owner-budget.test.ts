/**
 * Issue 18, point 4: an owner's daily budget, on a clock the test moves. Once the owner's jobs
 * have spent the day, an enqueue is refused (409 budget_exhausted) and a job already queued
 * waits QUEUED, costing nothing, until the next UTC day; another owner is not affected; raising
 * the budget lifts the refusal at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextUtcDay, utcDay } from '../../src/util/clock.js';
import { type FakeAnthropic, startFakeAnthropic, textMessage } from '../helpers/fake-anthropic.js';
import { heartbeatsPass, historyOf, jobRows, type LimitsWorld, startLimitsWorld, waitAllEnded } from '../helpers/limits-world.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { waitFor } from '../helpers/wait-for.js';

let fake: FakeAnthropic;
let world: LimitsWorld;
let productA: string;
let productB: string;
let ownerA: Record<string, string>;
let ownerB: Record<string, string>;

beforeAll(async () => {
  fake = await startFakeAnthropic({ whenEmpty: textMessage('# answer', { inputTokens: 1000, outputTokens: 200 }) });
  world = await startLimitsWorld({
    env: { AGENT: 'anthropic', ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: fake.baseURL },
    kinds: ['IDEA_GRILL'],
    concurrency: 2,
  });
  productA = await createProduct(world.db, 'owner-a', 'A');
  productB = await createProduct(world.db, 'owner-b', 'B');
  ownerA = { authorization: `Bearer ${await world.api.token(['read', 'write', 'enqueue'], 'owner-a')}` };
  ownerB = { authorization: `Bearer ${await world.api.token(['read', 'write', 'enqueue'], 'owner-b')}` };
});
afterAll(async () => {
  await world?.close();
  await fake?.close();
});

async function grill(product: string, as: Record<string, string>) {
  const [idea] = await createIdeas(world.db, product, 1, 'DRAFT');
  return world.api.call('POST', '/api/v1/jobs', { kind: 'idea_grill', idea_id: idea }, as);
}

async function chat(product: string, as: Record<string, string>) {
  const [idea] = await createIdeas(world.db, product, 1, 'PLAN_READY');
  return world.api.call('POST', '/api/v1/jobs', { kind: 'plan_chat', idea_id: idea, payload: { message: 'Shorter, please.' } }, as);
}

const spendOf = async (owner: string, day: string) =>
  Number(
    (
      await world.db
        .selectFrom('owner_daily_spend')
        .select('cost_usd')
        .where('owner_id', '=', owner)
        .where('day', '=', day as never)
        .executeTakeFirst()
    )?.cost_usd ?? 0,
  );

describe("an owner's daily budget", () => {
  it('refuses enqueues once the day is spent, holds a queued job until the next UTC day, and spares other owners', async () => {
    const today = utcDay(world.clock.now());

    // A first job spends what becomes the whole day's budget.
    const first = await grill(productA, ownerA);
    expect(first.status).toBe(202);
    const [done] = await waitAllEnded(world.db, [first.body.id]);
    expect(done!.status).toBe('DONE');
    const cost = Number(done!.cost_usd);
    expect(cost).toBeGreaterThan(0);
    expect(await spendOf('owner-a', today)).toBeCloseTo(cost, 6);

    // Queued before the day is spent; no worker serves plan chats yet.
    const waitingChat = await chat(productA, ownerA);
    const otherChat = await chat(productB, ownerB);
    expect([waitingChat.status, otherChat.status]).toEqual([202, 202]);

    const set = await world.api.call('PUT', '/api/v1/owners/owner-a/budget', { daily_usd: cost });
    expect(set.status).toBe(200);
    const budget = await world.api.call('GET', '/api/v1/owners/owner-a/budget', undefined, ownerA);
    expect(budget.body).toMatchObject({
      owner_id: 'owner-a',
      daily_usd: cost,
      source: 'owner',
      day: today,
      remaining_usd: 0,
      exhausted: true,
    });
    expect(budget.body.spent_usd).toBeCloseTo(cost, 6);

    const refused = await grill(productA, ownerA);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('budget_exhausted');
    const otherGrill = await grill(productB, ownerB);
    expect(otherGrill.status).toBe(202);

    const chatPool = await world.startPool({ kinds: ['PLAN_CHAT'], concurrency: 2 });
    const others = await waitAllEnded(world.db, [otherChat.body.id, otherGrill.body.id]);
    expect(others.map((row) => row.status)).toEqual(['DONE', 'DONE']);

    await waitFor("owner-a's queued chat to be given back for the spent day", async () =>
      (await historyOf(world.db, 'CLAUDE_JOB', waitingChat.body.id)).some((row) => row.trigger === 'owner_budget_spent'),
    );
    const requestsWhileSpent = fake.requests.length;
    // Ten heartbeats: several BUDGET_RECHECK_MS (300 ms) offers of the job, none of which may run it.
    await heartbeatsPass(world.db, chatPool.identity.workerId, 10);
    const [held] = await jobRows(world.db, [waitingChat.body.id]);
    expect(held!.status).toBe('QUEUED');
    expect(fake.requests.length).toBe(requestsWhileSpent);
    const given = (await historyOf(world.db, 'CLAUDE_JOB', waitingChat.body.id)).find((row) => row.trigger === 'owner_budget_spent')!;
    expect(given).toMatchObject({ from_status: 'RUNNING', to_status: 'QUEUED' });
    expect(given.reason).toMatch(/budget/i);

    // The next UTC day: the held job runs, and its cost counts on that day.
    // A smaller answer than the day's whole budget: a run that reaches its ceiling is stopped.
    fake.respondWith(textMessage('# answer', { inputTokens: 100, outputTokens: 20 }));
    const tomorrow = nextUtcDay(world.clock.now());
    world.clock.set(new Date(tomorrow.getTime() + 60_000));
    const [ran] = await waitAllEnded(world.db, [waitingChat.body.id], 30_000);
    expect([ran!.status, ran!.attempt_count, ran!.error]).toEqual(['DONE', 1, null]);
    expect(await spendOf('owner-a', utcDay(tomorrow))).toBeCloseTo(Number(ran!.cost_usd), 6);
    expect(await spendOf('owner-a', today)).toBeCloseTo(cost, 6);
  });

  it('lifts the refusal at once when an admin raises the budget', async () => {
    const today = await world.api.call('GET', '/api/v1/owners/owner-a/budget');
    expect(today.body.spent_usd).toBeGreaterThan(0);
    await world.api.call('PUT', '/api/v1/owners/owner-a/budget', { daily_usd: today.body.spent_usd });
    expect((await world.api.call('GET', '/api/v1/owners/owner-a/budget')).body.exhausted).toBe(true);
    const refused = await grill(productA, ownerA);
    expect([refused.status, refused.body.error?.code]).toEqual([409, 'budget_exhausted']);

    await world.api.call('PUT', '/api/v1/owners/owner-a/budget', { daily_usd: 1 });
    const allowed = await grill(productA, ownerA);
    expect(allowed.status).toBe(202);
    const [row] = await waitAllEnded(world.db, [allowed.body.id]);
    expect([row!.status, row!.error]).toEqual(['DONE', null]);
  });

  it('OWNER_DAILY_BUDGET_USD applies to owners without their own budget', async () => {
    // This file's fleet has no default: owner-b has no budget at all.
    const none = await world.api.call('GET', '/api/v1/owners/owner-b/budget');
    expect(none.body).toMatchObject({ owner_id: 'owner-b', daily_usd: null, source: 'none', exhausted: false });

    const other = await startLimitsWorld({ pools: 0, env: { OWNER_DAILY_BUDGET_USD: '0.5' }, clock: world.clock });
    try {
      const product = await createProduct(other.db, 'owner-c', 'C');
      const [idea] = await createIdeas(other.db, product, 1, 'DRAFT');
      const fresh = await other.api.call('GET', '/api/v1/owners/owner-c/budget');
      expect(fresh.body).toMatchObject({ owner_id: 'owner-c', daily_usd: 0.5, source: 'default', spent_usd: 0, exhausted: false });
      await other.db
        .insertInto('owner_daily_spend')
        .values({ owner_id: 'owner-c', day: utcDay(world.clock.now()) as never, cost_usd: '0.5' })
        .execute();
      const refused = await other.api.call('POST', '/api/v1/jobs', { kind: 'idea_grill', idea_id: idea });
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('budget_exhausted');
      // An owner's own budget overrides the default.
      await other.api.call('PUT', '/api/v1/owners/owner-c/budget', { daily_usd: 1 });
      expect((await other.api.call('POST', '/api/v1/jobs', { kind: 'idea_grill', idea_id: idea })).status).toBe(202);
    } finally {
      await other.close();
    }
  });
});
