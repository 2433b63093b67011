/**
 * Fair shares made visible without leaking one owner's figures to another: /metrics carries each
 * owner's running and queued jobs and cap (and spend) for admin and worker tokens only, never for
 * an anonymous scrape under METRICS_PUBLIC; the fleet page (in Chromium, against an API process)
 * shows an admin every owner's running, queued and cap, a read token only its own owner, and the
 * schedules the API lists. Jobs, caps and schedules are rows this file writes; no worker runs.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/auth/token.repository.js';
import { insertJobs } from '../../src/jobs/enqueue-jobs.js';
import { MAX_OWNERS } from '../../src/metrics/owner-metrics.js';
import { type ApiHarness, createApiHarness } from '../helpers/api-harness.js';
import { artifact, launchChromium } from '../helpers/browser.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { createRunningJob } from '../helpers/running-jobs.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { sample } from '../helpers/metrics-sample.js';

const LOGIN = { username: 'ops', password: 'ops-password-123' };
/** The schedules API is built apart; until it is served, the page says schedules are unavailable. */
const SCHEDULES_SERVED = existsSync(path.join(import.meta.dirname, '..', '..', 'src', 'api', 'routes', 'schedules.routes.ts'));
let env: TestEnv;
let api: ApiHarness;
let base: string;
let browser: Browser;
const products: Record<string, string> = {};
let aliceJobId: string;

beforeAll(async () => {
  env = await createTestEnv({ DASHBOARD_USER: LOGIN.username, DASHBOARD_PASSWORD: LOGIN.password, OWNER_MAX_RUNNING: '3' });
  const db = env.database.db;
  // Alice: 2 running, 3 queued, a cap of 2 of her own (she is at it). Bob: 1 running, the fleet's
  // cap of 3. Carol: no jobs, and no cap by an admin's choice.
  for (const owner of ['alice', 'bob', 'carol']) products[owner] = await createProduct(db, owner);
  aliceJobId = (await createRunningJob(db, products.alice!)).id;
  await createRunningJob(db, products.alice!);
  await createRunningJob(db, products.bob!);
  await queueGrills(products.alice!, 3);
  await db
    .insertInto('owner_caps')
    .values([
      { owner_id: 'alice', max_running: 2, updated_by_token_id: null },
      { owner_id: 'carol', max_running: null, updated_by_token_id: null },
    ])
    .execute();
  await db
    .insertInto('owner_daily_spend')
    .values({ owner_id: 'alice', day: new Date().toISOString().slice(0, 10), cost_usd: '0.750000' })
    .execute();
  api = await createApiHarness(env);
  const apiProcess = spawnJobfleet(['api'], env.env);
  base = (await apiProcess.line(/listening on (http:\/\/\S+)\/api\/v1/))[1]!;
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await api?.close();
  await killAll();
  await env.teardown();
});

async function queueGrills(productId: string, count: number): Promise<void> {
  const ideas = await createIdeas(env.database.db, productId, count, 'DRAFT');
  await env.database.db.transaction().execute((trx) =>
    insertJobs(
      trx,
      ideas.map((subjectId) => ({ kind: 'IDEA_GRILL' as const, subjectId })),
      { actorTokenId: null },
    ),
  );
}

/** Each owner's running and queued jobs, counted from the rows themselves. */
async function countsInDb(): Promise<Map<string, { running: number; queued: number }>> {
  const { rows } = await sql<{ owner_id: string; running: string; queued: string }>`
    SELECT owner_id,
      count(*) FILTER (WHERE status IN ('CLAIMED', 'RUNNING')) AS running,
      count(*) FILTER (WHERE status = 'QUEUED') AS queued
    FROM claude_jobs GROUP BY owner_id
  `.execute(env.database.db);
  return new Map(rows.map((row) => [row.owner_id, { running: Number(row.running), queued: Number(row.queued) }]));
}

const OWNER_SERIES = ['jobfleet_owner_jobs', 'jobfleet_owner_max_running', 'jobfleet_owner_spend_usd'];

describe('owner metrics', () => {
  it("give an admin each owner's running and queued jobs as the rows count them, and each cap", async () => {
    const response = await api.call('GET', '/metrics');
    expect(response.status).toBe(200);
    const text = response.body as string;
    const counts = await countsInDb();
    expect(counts.get('alice')).toEqual({ running: 2, queued: 3 });
    for (const [owner, { running, queued }] of counts) {
      expect(sample(text, 'jobfleet_owner_jobs', { owner, state: 'running' })).toBe(running);
      expect(sample(text, 'jobfleet_owner_jobs', { owner, state: 'queued' })).toBe(queued);
    }
    expect(sample(text, 'jobfleet_owner_jobs', { owner: 'carol', state: 'running' })).toBe(0);
    expect(sample(text, 'jobfleet_owner_max_running', { owner: 'alice' })).toBe(2);
    expect(sample(text, 'jobfleet_owner_max_running', { owner: 'bob' })).toBe(3);
    // Carol has no cap: no series, rather than a number that would mean one.
    expect(sample(text, 'jobfleet_owner_max_running', { owner: 'carol' })).toBeUndefined();
    expect(sample(text, 'jobfleet_owner_spend_usd', { owner: 'alice' })).toBe(0.75);
    expect(text).toContain('# TYPE jobfleet_owner_jobs gauge');
  });

  it('give a worker token the owner series too', async () => {
    const worker = { authorization: `Bearer ${await api.token(['worker'], 'system')}` };
    const text = (await api.call('GET', '/metrics', undefined, worker)).body as string;
    expect(sample(text, 'jobfleet_owner_jobs', { owner: 'bob', state: 'running' })).toBe(1);
  });

  it('leave every owner-labelled series out of a scrape without a token under METRICS_PUBLIC, or with a read token', async () => {
    const open = await createApiHarness({ ...env, config: { ...env.config, METRICS_PUBLIC: true } });
    try {
      const anonymous = await open.call('GET', '/metrics', undefined, { authorization: '' });
      expect(anonymous.status).toBe(200);
      const reader = await open.call('GET', '/metrics', undefined, { authorization: `Bearer ${await open.token(['read'], 'bob')}` });
      expect(reader.status).toBe(200);
      for (const text of [anonymous.body as string, reader.body as string]) {
        // The fleet's figures are there; nothing names an owner.
        expect(sample(text, 'jobfleet_jobs', { kind: 'idea_grill', status: 'queued' })).toBe(3);
        for (const name of OWNER_SERIES) expect(text).not.toContain(name);
        expect(text).not.toContain('owner=');
      }
      // An admin's scrape of the same process has them.
      const admin = (await open.call('GET', '/metrics')).body as string;
      for (const name of OWNER_SERIES) expect(admin).toContain(`# TYPE ${name} gauge`);
    } finally {
      await open.close();
    }
  });

  it(`are bounded to ${MAX_OWNERS} owners, the busiest first`, async () => {
    const db = env.database.db;
    const idle = Array.from({ length: MAX_OWNERS + 5 }, (_, i) => `idle-${String(i).padStart(4, '0')}`);
    await db
      .insertInto('owner_caps')
      .values(idle.map((owner_id) => ({ owner_id, max_running: 1, updated_by_token_id: null })))
      .execute();
    try {
      const text = (await api.call('GET', '/metrics')).body as string;
      const owners = new Set([...text.matchAll(/^jobfleet_owner_jobs\{owner="([^"]+)"/gm)].map((match) => match[1]));
      expect(owners.size).toBe(MAX_OWNERS);
      expect(owners.has('alice')).toBe(true);
      expect(owners.has('bob')).toBe(true);
      expect(text.match(/^jobfleet_owner_max_running\{/gm)?.length).toBeLessThanOrEqual(MAX_OWNERS);
    } finally {
      await db.deleteFrom('owner_caps').where('owner_id', 'in', idle).execute();
    }
  });
});

/** Two schedules of Alice's (a cron one that fired a job, an interval one that skipped) and one of Bob's. */
async function insertSchedules(): Promise<Record<string, string[]>> {
  const db = env.database.db;
  const [aliceIdea] = await createIdeas(db, products.alice!, 1, 'DRAFT');
  const [bobIdea] = await createIdeas(db, products.bob!, 1, 'DRAFT');
  const firedAt = new Date(Date.now() - 60_000);
  const rows = await db
    .insertInto('schedules')
    .values([
      {
        owner_id: 'alice',
        product_id: products.alice!,
        kind: 'IDEA_GRILL',
        idea_id: aliceIdea!,
        task_id: null,
        sprint_id: null,
        cron: '0 3 * * *',
        every_ms: null,
        timezone: 'Europe/Paris',
        created_by_token_id: null,
        last_fired_at: firedAt,
        last_job_id: aliceJobId,
        last_outcome: 'enqueued',
        last_reason: null,
        firing_count: 4,
        updated_at: new Date(),
      },
      {
        owner_id: 'alice',
        product_id: products.alice!,
        kind: 'PLAN_CHAT',
        idea_id: aliceIdea!,
        task_id: null,
        sprint_id: null,
        cron: null,
        every_ms: 90_000,
        created_by_token_id: null,
        last_fired_at: firedAt,
        last_job_id: null,
        last_outcome: 'skipped',
        last_reason: 'budget_exhausted: the owner has spent today',
        firing_count: 1,
        updated_at: new Date(),
      },
      {
        owner_id: 'bob',
        product_id: products.bob!,
        kind: 'IDEA_GRILL',
        idea_id: bobIdea!,
        task_id: null,
        sprint_id: null,
        cron: '*/5 * * * *',
        every_ms: null,
        enabled: false,
        created_by_token_id: null,
        last_fired_at: null,
        last_job_id: null,
        last_outcome: null,
        last_reason: null,
        updated_at: new Date(),
      },
    ])
    .returning(['id', 'owner_id'])
    .execute();
  return {
    alice: rows.filter((row) => row.owner_id === 'alice').map((row) => row.id),
    bob: rows.filter((row) => row.owner_id === 'bob').map((row) => row.id),
  };
}

/**
 * The fleet page with this login, the API paths it asked for (with their query strings), and the
 * schedules the API answered it first (the page reads them again only every 10 s).
 */
async function openPage(credentials: { username: string; password: string }) {
  const context = await browser.newContext({ httpCredentials: credentials });
  const page = await context.newPage();
  const asked: string[] = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.pathname.startsWith('/api/v1/')) asked.push(url.pathname + url.search);
  });
  const schedulesAnswer = page.waitForResponse((response) => new URL(response.url()).pathname === '/api/v1/schedules');
  await page.goto(`${base}/`);
  const answer = await schedulesAnswer;
  const schedules = {
    status: answer.status(),
    schedules: answer.ok() ? ((await answer.json()) as { items: any[] }).items : [],
  };
  return { page, asked, schedules };
}

/** The schedules section shows what the API answered this login, or says schedules are unavailable. */
async function expectSchedulesShown(page: Page, answer: { status: number; schedules: any[] }, ownIds: string[]): Promise<void> {
  const { status, schedules } = answer;
  if (!SCHEDULES_SERVED) {
    expect(status).toBe(404);
    const note = page.locator('#schedules-note[data-state="unavailable"]');
    await note.waitFor();
    expect(await note.textContent()).toBe('Schedules unavailable (404).');
    expect(await page.locator('#schedules tbody tr').count()).toBe(0);
    return;
  }
  expect(status).toBe(200);
  expect(schedules.map((schedule) => schedule.id).sort()).toEqual([...ownIds].sort());
  // Hidden once there are rows: attached is enough.
  await page.locator('#schedules-note[data-state="loaded"]').waitFor({ state: 'attached' });
  expect(await page.locator('#schedules tbody tr').count()).toBe(schedules.length);
  for (const schedule of schedules) {
    const row = page.locator(`#schedules tr[data-schedule-id="${schedule.id}"]`);
    expect(await row.locator('td.kind').textContent()).toBe(schedule.kind);
    expect(await row.locator('td.timing').textContent()).toBe(
      schedule.cron ? `${schedule.cron} (${schedule.timezone})` : `every ${Number(schedule.every_ms) / 1000} s`,
    );
    expect(await row.locator('td.enabled').textContent()).toBe(schedule.enabled ? 'yes' : 'no');
    const next = schedule.enabled && schedule.next_fire_at ? await localTime(page, schedule.next_fire_at) : '—';
    expect(await row.locator('td.next').textContent()).toBe(next);
    const last = await row.locator('td.last').textContent();
    if (!schedule.last_fired_at) expect(last).toBe('never');
    else if (schedule.last_job_id) expect(last).toContain(`job ${schedule.last_job_id.slice(0, 8)}`);
    else expect(last).toContain(schedule.last_reason);
  }
}

const localTime = (page: Page, iso: string) => page.evaluate((at) => new Date(at).toLocaleString(), iso);

describe('the fleet page', () => {
  let schedules: Record<string, string[]>;
  beforeAll(async () => {
    schedules = await insertSchedules();
  });

  it("shows an admin every owner's running, queued and cap with where the cap comes from, and the schedules", async () => {
    const { page, asked, schedules: answer } = await openPage(LOGIN);
    const alice = page.locator('#owners tr[data-owner="alice"]');
    await alice.waitFor();
    expect(await alice.locator('td.running').textContent()).toBe('2');
    expect(await alice.locator('td.queued').textContent()).toBe('3');
    expect(await alice.locator('td.cap').textContent()).toBe('2');
    expect(await alice.locator('td.source').textContent()).toBe('set for this owner');
    expect(await alice.getAttribute('class')).toBe('at-cap');
    const bob = page.locator('#owners tr[data-owner="bob"]');
    expect(await bob.locator('td.running').textContent()).toBe('1');
    expect(await bob.locator('td.cap').textContent()).toBe('3');
    expect(await bob.locator('td.source').textContent()).toBe('fleet default');
    expect(await page.locator('#owners tr[data-owner="carol"] td.cap').textContent()).toBe('none');
    expect(await page.locator('#owners-at-cap').textContent()).toBe('1 at their cap');

    await expectSchedulesShown(page, answer, [...schedules.alice!, ...schedules.bob!]);
    await page.screenshot({ path: artifact('fleet-page-owners.png'), fullPage: true });
    expect(asked).toContain('/api/v1/owners');
    await page.context().close();
  });

  it("shows a read token only its own owner's row and schedules, and asks the API for nothing more", async () => {
    const { secret } = await createToken(env.database.db, { name: 'bob reads', ownerId: 'bob', scopes: ['read'] });
    const { page, asked, schedules: answer } = await openPage({ username: 'bob', password: secret });
    const bob = page.locator('#owners tr[data-owner="bob"]');
    await bob.waitFor();
    // The API answered once, with every row this login may see: Bob's alone.
    expect(await page.locator('#owners tbody tr').count()).toBe(1);
    expect(await bob.locator('td.running').textContent()).toBe('1');
    expect(await bob.locator('td.queued').textContent()).toBe('0');
    expect(await bob.locator('td.cap').textContent()).toBe('3');
    expect(await page.locator('#owners-section').textContent()).not.toContain('alice');
    await expectSchedulesShown(page, answer, schedules.bob!);
    // Owners and schedules are asked for without naming anyone: the API decides what Bob sees.
    const shares = asked.filter((url) => url.startsWith('/api/v1/owners') || url.startsWith('/api/v1/schedules'));
    expect(new Set(shares)).toEqual(new Set(['/api/v1/owners', '/api/v1/schedules']));
    await page.context().close();
  });
});
