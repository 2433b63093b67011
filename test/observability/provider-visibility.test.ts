/**
 * Provider limits and budgets made visible: a provider's pause and resume reach every stream that
 * may read the fleet (they belong to no owner) with the provider's name, reason and until; a
 * `budget_exceeded` notice reaches its job's owner only; and /metrics shows the providers' state
 * and pauses, each owner's spend today, jobs stopped at a budget and refused enqueues, from rows
 * this file writes; the fleet page (in Chromium, against an API process) marks a paused provider,
 * shows a new pause live and lets an admin resume it.
 */
import { Redis } from 'ioredis';
import type { Browser } from 'playwright-core';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/principal.js';
import { createToken } from '../../src/auth/token.repository.js';
import { publishBudgetExceeded } from '../../src/events/budget-notices.js';
import { audienceOf, type FleetEvent } from '../../src/events/fleet-event.js';
import { noticeJob } from '../../src/events/job-notices.js';
import { createFleetMetrics } from '../../src/metrics/fleet-metrics.js';
import { providerMachine } from '../../src/machines/index.js';
import { createEntity, transition } from '../../src/transitions/index.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { artifact, launchChromium } from '../helpers/browser.js';
import { type EventClient, type ReceivedEvent, sseClient, wsClient } from '../helpers/event-clients.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { createRunningJob } from '../helpers/running-jobs.js';
import { createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { sample } from '../helpers/metrics-sample.js';

const LOGIN = { username: 'ops', password: 'ops-password-123' };
let env: TestEnv;
let base: string;
let redis: Redis;
const clients: EventClient[] = [];
let browser: Browser;

beforeAll(async () => {
  env = await createTestEnv({ DASHBOARD_USER: LOGIN.username, DASHBOARD_PASSWORD: LOGIN.password });
  const processes = [spawnJobfleet(['sweeper'], env.env), spawnJobfleet(['api'], env.env)];
  await processes[0]!.line(/sweeper running/);
  base = (await processes[1]!.line(/listening on (http:\/\/\S+)\/api\/v1/))[1]!;
  redis = new Redis(env.redisUrl);
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  for (const client of clients) client.close();
  redis?.disconnect();
  await killAll();
  await env.teardown();
});

async function bearer(ownerId: string, scopes: string[]): Promise<Record<string, string>> {
  const { secret } = await createToken(env.database.db, { name: `${ownerId} ${scopes.join(',')}`, ownerId, scopes });
  return { authorization: `Bearer ${secret}` };
}

function track<T extends EventClient>(client: T): T {
  clients.push(client);
  return client;
}

/** A provider met for the first time, as the worker records it: created ACTIVE through the door. */
async function newProvider(name: string, kinds: string[]): Promise<string> {
  const created = await env.database.db
    .transaction()
    .execute((trx) => createEntity(trx, providerMachine, { name, kinds }, { reason: 'first met' }));
  return created.row.id as string;
}

/** A provider's status change through the door, as the worker, the sweeper or an admin makes it. */
function moveProvider(request: Parameters<typeof transition<typeof providerMachine>>[2]) {
  return env.database.db.transaction().execute((trx) => transition(trx, providerMachine, request));
}

const ofProvider = (events: ReceivedEvent[], id: string, type: string) =>
  events.find((event) => event.data.entity === 'provider' && event.data.entity_id === id && event.type === type);

describe('provider events', () => {
  it('reach every token that may read the fleet, over SSE and WebSocket, with the name, reason, message and until', async () => {
    const alice = await bearer('alice', ['read']);
    const bob = await bearer('bob', ['read', 'write']);
    const worker = await bearer('system', ['worker']);
    const aliceSse = track(sseClient(`${base}/api/v1/events`, alice));
    const bobWs = track(wsClient(`${base.replace('http', 'ws')}/api/v1/ws`, bob));
    const workerSse = track(sseClient(`${base}/api/v1/events`, worker));
    await Promise.all([aliceSse.connected, bobWs.connected, workerSse.connected]);

    const id = await newProvider('anthropic', ['IDEA_GRILL', 'PLAN_CHAT']);
    const until = new Date(Date.now() + 90_000);
    await moveProvider({
      id,
      from: 'ACTIVE',
      to: 'PAUSED',
      trigger: 'rate_limited',
      set: { reason: 'rate_limit', message: 'retry-after 90', paused_at: new Date().toISOString(), resume_at: until.toISOString() },
      context: { reason: 'anthropic rate limited (retry-after 90); its kinds wait for 90000 ms' },
    });
    for (const client of [aliceSse, bobWs, workerSse]) {
      await client.waitFor('the pause', (events) => ofProvider(events, id, 'provider_paused') !== undefined);
      const paused = ofProvider(client.events, id, 'provider_paused')!.data as FleetEvent;
      expect(paused).toMatchObject({ entity: 'provider', from: 'active', to: 'paused', trigger: 'rate_limited' });
      expect(paused.provider).toEqual({ name: 'anthropic', reason: 'rate_limit', message: 'retry-after 90', until: until.toISOString() });
      expect(paused.product_id).toBeNull();
      // Its creation is no resume.
      expect(client.events.some((event) => event.data.entity_id === id && event.type === 'provider_resumed')).toBe(false);
    }

    await moveProvider({
      id,
      from: 'PAUSED',
      to: 'ACTIVE',
      trigger: 'admin_resumes',
      set: { resume_at: null },
      context: { reason: 'resumed by an admin' },
    });
    for (const client of [aliceSse, bobWs, workerSse]) {
      await client.waitFor('the resume', (events) => ofProvider(events, id, 'provider_resumed') !== undefined);
      const resumed = ofProvider(client.events, id, 'provider_resumed')!.data as FleetEvent;
      expect(resumed).toMatchObject({ entity: 'provider', from: 'paused', to: 'active', trigger: 'admin_resumes' });
      expect(resumed.provider).toEqual({ name: 'anthropic', reason: 'rate_limit', message: null, until: null });
    }
  });

  it('are replayed after a reconnect like any status change', async () => {
    const alice = await bearer('alice', ['read']);
    const id = await newProvider('local-cli', ['IDEA_GRILL']);
    await moveProvider({
      id,
      from: 'ACTIVE',
      to: 'PAUSED',
      trigger: 'spend_limit_reached',
      set: { reason: 'spend_limit', message: 'spend limit reached', paused_at: new Date().toISOString() },
    });
    const history = await env.database.db.selectFrom('transitions').select('id').where('entity_id', '=', id).orderBy('id').execute();
    const replay = track(sseClient(`${base}/api/v1/events?last_event_id=${history[0]!.id}`, alice));
    await replay.waitFor('the replayed pause', (events) => ofProvider(events, id, 'provider_paused') !== undefined);
    expect(ofProvider(replay.events, id, 'provider_paused')!.data.provider).toEqual({
      name: 'local-cli',
      reason: 'spend_limit',
      message: 'spend limit reached',
      until: null,
    });
  });

  it('are seen by read, worker and admin tokens only, whatever their owner', () => {
    const event = { entity: 'provider', entity_id: 'p', type: 'provider_paused' } as FleetEvent;
    const sees = (scopes: Principal['scopes']) => audienceOf({ tokenId: 't', ownerId: 'carol', scopes })({ event, ownerId: null });
    expect(sees(['read'])).toBe(true);
    expect(sees(['worker'])).toBe(true);
    expect(sees(['admin'])).toBe(true);
    expect(sees(['write', 'enqueue'])).toBe(false);
    expect(sees(['agent'])).toBe(false);
  });
});

describe('the budget_exceeded notice', () => {
  it("reaches the job's owner with the ceiling, limit and what was used, and no other owner", async () => {
    const db = env.database.db;
    const aliceJob = await createRunningJob(db, await createProduct(db, 'alice'));
    const bobJob = await createRunningJob(db, await createProduct(db, 'bob'));
    const alice = track(sseClient(`${base}/api/v1/events?job_id=${aliceJob.id}`, await bearer('alice', ['read'])));
    const bob = track(sseClient(`${base}/api/v1/events`, await bearer('bob', ['read'])));
    await Promise.all([alice.connected, bob.connected]);

    await publishBudgetExceeded(redis, env.prefix, [
      { job: await noticeJob(db, aliceJob.id), budget: { ceiling: 'max_cost_usd', limit: 0.5, used: 0.5125 } },
    ]);
    await publishBudgetExceeded(redis, env.prefix, [
      { job: await noticeJob(db, bobJob.id), budget: { ceiling: 'owner_daily_usd', limit: 2, used: 2.01 } },
    ]);
    await alice.waitFor('her notice', (events) => events.some((event) => event.type === 'budget_exceeded'));
    const notice = alice.events.find((event) => event.type === 'budget_exceeded')!.data as FleetEvent;
    expect(notice).toMatchObject({ id: null, entity: 'job', entity_id: aliceJob.id, job: { id: aliceJob.id, kind: 'idea_grill' } });
    expect(notice.budget).toEqual({ ceiling: 'max_cost_usd', limit: 0.5, used: 0.5125 });
    // Bob hears his own notice, published after Alice's: by then Alice's would have reached him too.
    await bob.waitFor('his notice', (events) => events.some((event) => event.type === 'budget_exceeded'));
    expect(bob.events.filter((event) => event.type === 'budget_exceeded').map((event) => event.data.entity_id)).toEqual([bobJob.id]);
  });
});

async function openPage(credentials: { username: string; password: string }) {
  const context = await browser.newContext({ httpCredentials: credentials });
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await page.locator('#connection[data-state="live"]').waitFor();
  return page;
}

describe('the fleet page', () => {
  it('marks a paused provider with why and until when, shows a new pause live, and lets an admin resume it', async () => {
    const spent = await newProvider('claude-api', ['IDEA_GRILL', 'PLAN_CHAT']);
    await moveProvider({
      id: spent,
      from: 'ACTIVE',
      to: 'PAUSED',
      trigger: 'spend_limit_reached',
      set: { reason: 'spend_limit', message: 'Your credit balance is too low', paused_at: new Date().toISOString() },
    });
    const limited = await newProvider('claude-cli', ['TASK_IMPLEMENTATION']);
    const page = await openPage(LOGIN);

    const spentRow = page.locator('#providers tr[data-provider="claude-api"][data-status="paused"]');
    await spentRow.waitFor();
    expect(await spentRow.getAttribute('class')).toContain('paused');
    const text = await spentRow.textContent();
    expect(text).toContain('PAUSED');
    expect(text).toContain('spend limit: Your credit balance is too low');
    expect(text).toContain('until an admin resumes it');
    expect(text).toContain('idea_grill, plan_chat');
    await page.locator('#providers tr[data-provider="claude-cli"][data-status="active"]').waitFor();

    // Paused while the page is open: the event brings it, sooner than the page's own polling would.
    const until = new Date(Date.now() + 120_000);
    await moveProvider({
      id: limited,
      from: 'ACTIVE',
      to: 'PAUSED',
      trigger: 'rate_limited',
      set: { reason: 'rate_limit', message: 'retry-after 120', paused_at: new Date().toISOString(), resume_at: until.toISOString() },
    });
    const limitedRow = page.locator('#providers tr[data-provider="claude-cli"][data-status="paused"]');
    await limitedRow.waitFor({ timeout: 5_000 });
    expect(await limitedRow.locator('td.why').textContent()).toBe('rate limit: retry-after 120');
    expect(await limitedRow.locator('td.until').textContent()).not.toBe('—');
    const fed = page.locator(`#feed li.type-provider_paused[data-entity-id="${limited}"]`);
    await fed.waitFor();
    expect(await fed.textContent()).toContain('provider claude-cli  PAUSED (rate limit: retry-after 120) until');
    const paused = await env.database.db.selectFrom('providers').select('id').where('status', '=', 'PAUSED').execute();
    expect(paused.length).toBeGreaterThanOrEqual(2);
    expect(await page.locator('#providers-paused').textContent()).toBe(`${paused.length} paused`);
    await page.screenshot({ path: artifact('fleet-page-providers.png'), fullPage: true });

    const resume = page.waitForResponse((response) => response.url().endsWith('/api/v1/providers/claude-api/resume'));
    await spentRow.getByRole('button', { name: 'Resume' }).click();
    expect((await resume).status()).toBe(200);
    await page.locator('#providers tr[data-provider="claude-api"][data-status="active"]').waitFor();
    const row = await env.database.db.selectFrom('providers').select('status').where('id', '=', spent).executeTakeFirstOrThrow();
    expect(row.status).toBe('ACTIVE');
    await page.locator(`#feed li.type-provider_resumed[data-entity-id="${spent}"]`).waitFor();
    await page.context().close();
  });

  it('shows a read token the paused provider without a resume button', async () => {
    const secret = (await createToken(env.database.db, { name: 'reader', ownerId: 'alice', scopes: ['read'] })).secret;
    const page = await openPage({ username: 'alice', password: secret });
    const row = page.locator('#providers tr[data-provider="claude-cli"][data-status="paused"]');
    await row.waitFor();
    expect(await row.getByRole('button', { name: 'Resume' }).count()).toBe(0);
    await page.context().close();
  });
});

describe('metrics of providers and budgets', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await createApiHarness(env);
  });
  afterAll(async () => {
    await api.close();
  });

  it("show each provider's state and pauses, each owner's spend today, jobs stopped at a budget and refused enqueues", async () => {
    const db = env.database.db;
    await db.deleteFrom('providers').execute();
    await db
      .insertInto('providers')
      .values([
        { name: 'anthropic', status: 'PAUSED', reason: 'spend_limit', message: 'spend limit', kinds: ['IDEA_GRILL'], pause_count: 3 },
        { name: 'local-cli', status: 'ACTIVE', reason: 'overloaded', kinds: ['PLAN_CHAT'], pause_count: 1 },
      ] as never)
      .execute();
    await db
      .insertInto('owner_daily_spend')
      .values([
        { owner_id: 'alice', day: '2031-05-04', cost_usd: '1.250000' },
        { owner_id: 'alice', day: '2031-05-03', cost_usd: '9.000000' },
        { owner_id: 'bob', day: '2031-05-04', cost_usd: '0.500000' },
        { owner_id: 'carol', day: '2031-05-03', cost_usd: '4.000000' },
      ])
      .execute();
    const product = await createProduct(db, 'alice');
    for (const code of ['budget_exceeded', 'budget_exceeded', 'agent_failed']) {
      const job = await createRunningJob(db, product);
      await sql`UPDATE claude_jobs SET status = 'FAILED', error = ${JSON.stringify({ code, message: code })}::jsonb WHERE id = ${job.id}`.execute(
        db,
      );
    }

    const metrics = createFleetMetrics({
      db,
      queues: api.queues,
      heartbeatMs: env.config.HEARTBEAT_MS,
      clock: () => new Date('2031-05-04T23:59:00Z'),
    });
    metrics.recordBudgetRefusal();
    metrics.recordBudgetRefusal(2);
    const text = await metrics.render();

    expect(sample(text, 'jobfleet_provider_paused', { provider: 'anthropic', reason: 'spend_limit' })).toBe(1);
    expect(sample(text, 'jobfleet_provider_paused', { provider: 'anthropic', reason: 'rate_limit' })).toBe(0);
    expect(sample(text, 'jobfleet_provider_paused', { provider: 'local-cli', reason: 'overloaded' })).toBe(0);
    expect(sample(text, 'jobfleet_provider_pauses_total', { provider: 'anthropic' })).toBe(3);
    expect(sample(text, 'jobfleet_provider_pauses_total', { provider: 'local-cli' })).toBe(1);
    expect(sample(text, 'jobfleet_owner_spend_usd', { owner: 'alice' })).toBe(1.25);
    expect(sample(text, 'jobfleet_owner_spend_usd', { owner: 'bob' })).toBe(0.5);
    // Carol spent nothing today: yesterday's spend is not hers today.
    expect(sample(text, 'jobfleet_owner_spend_usd', { owner: 'carol' })).toBeUndefined();
    expect(sample(text, 'jobfleet_jobs_budget_exceeded_total', { kind: 'idea_grill' })).toBe(2);
    expect(sample(text, 'jobfleet_budget_refusals_total')).toBe(3);
    expect(text).toContain('# TYPE jobfleet_provider_pauses_total counter');
    expect(text).toContain('# TYPE jobfleet_owner_spend_usd gauge');

    // The next UTC day starts from nothing.
    const tomorrow = createFleetMetrics({ db, queues: api.queues, heartbeatMs: 1000, clock: () => new Date('2031-05-05T00:00:01Z') });
    expect(sample(await tomorrow.render(), 'jobfleet_owner_spend_usd', { owner: 'alice' })).toBeUndefined();
  });

  it('are served at /metrics, with the refusals the enqueue route counted in this process', async () => {
    api.deps.metrics.recordBudgetRefusal();
    const response = await api.call('GET', '/metrics');
    expect(response.status).toBe(200);
    expect(sample(response.body as string, 'jobfleet_budget_refusals_total')).toBe(1);
    expect(sample(response.body as string, 'jobfleet_provider_paused', { provider: 'anthropic', reason: 'spend_limit' })).toBe(1);
  });
});
