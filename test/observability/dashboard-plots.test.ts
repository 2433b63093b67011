/**
 * The fleet page's plots and feed in a real browser (Debian's Chromium): jobs run through a real
 * fleet with the dry-run agent (done, failed, queued with no worker for their kind, one held
 * running), so every plot has points; each plot draws them, with a title and a legend, for each
 * range the page offers; a login whose owner has no jobs sees notes instead of empty boxes; the
 * feed comes back after a reload with its past, its filters narrow it (and survive a reload); and
 * job ids link to the job pages. Screenshots go to test-artifacts/.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/auth/token.repository.js';
import { artifact, launchChromium } from '../helpers/browser.js';
import { createDryRunGate, type DryRunGate } from '../helpers/dry-run-gate.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

const LOGIN = { username: 'ops', password: 'ops-password-123' };
const ADMIN = { authorization: 'Bearer plots-admin-token-0123' };
/** What the dry-run agent does not report (it costs nothing), written on the finished jobs' rows. */
const COST_PER_JOB = 0.125;
const PLOTS = ['throughput', 'queue_depth', 'wait', 'run', 'workers', 'cost_by_kind', 'tokens_by_kind', 'cost_by_owner'] as const;
const BUCKETS = { '1h': 60, '24h': 144, '7d': 168 } as const;

let env: TestEnv;
let browser: Browser;
let base: string;
let gate: DryRunGate;
const jobs = { grillDone: [] as string[], grillFailed: [] as string[], queuedChats: [] as string[], held: '', bob: '' };

async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = ADMIN) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return (await response.json()) as any;
}

const statusOf = async (id: string) => (await api('GET', `/api/v1/jobs/${id}`)).status as string;
const sum = (values: (number | null)[]) => values.reduce<number>((total, value) => total + (value ?? 0), 0);

beforeAll(async () => {
  env = await createTestEnv({ DASHBOARD_USER: LOGIN.username, DASHBOARD_PASSWORD: LOGIN.password, ADMIN_TOKEN: 'plots-admin-token-0123' });
  // No worker takes plan_chat: those jobs stay queued, so the queue depth has something to show.
  const fleet = spawnJobfleet(['start', '--kinds', 'idea_grill,idea_make_plan'], env.env);
  base = (await fleet.line(/Fleet:\s+(http:\/\/\S+)\//))[1]!;
  browser = await launchChromium();

  const db = env.database.db;
  const alice = await createProduct(db, 'owner-a', 'Plotted');
  const bob = await createProduct(db, 'owner-b', 'Also plotted');
  gate = createDryRunGate();
  const grilled = await createIdeas(db, alice, 3, 'DRAFT', 'Worth grilling. [dry-run:sleep=150]');
  const failing = await createIdeas(db, alice, 1, 'DRAFT', 'Fails. [dry-run:fail]');
  const chatted = await createIdeas(db, alice, 2, 'DRAFT');
  const [held] = await createIdeas(db, alice, 1, 'DRAFT', `Held running. ${gate.marker}`);
  const [bobs] = await createIdeas(db, bob, 1, 'DRAFT', 'Bob grills too. [dry-run:sleep=50]');
  for (const idea of grilled) jobs.grillDone.push((await api('POST', `/api/v1/ideas/${idea}/grill`, {})).id);
  for (const idea of failing) jobs.grillFailed.push((await api('POST', `/api/v1/ideas/${idea}/grill`, {})).id);
  for (const idea of chatted) jobs.queuedChats.push((await api('POST', `/api/v1/ideas/${idea}/chat`, { message: 'Anyone?' })).id);
  jobs.held = (await api('POST', `/api/v1/ideas/${held}/grill`, {})).id;
  jobs.bob = (await api('POST', `/api/v1/ideas/${bobs}/grill`, {})).id;
  jobs.grillDone.push(jobs.bob);

  for (const id of jobs.grillDone) await waitFor(`job ${id} to be done`, async () => (await statusOf(id)) === 'done');
  for (const id of jobs.grillFailed) await waitFor(`job ${id} to fail`, async () => (await statusOf(id)) === 'failed');
  await waitFor('the held job to run', async () => (await statusOf(jobs.held)) === 'running');
  await db.updateTable('claude_jobs').set({ cost_usd: COST_PER_JOB }).where('status', 'in', ['DONE', 'FAILED']).execute();
  // The endpoint keeps an answer a few seconds: wait until it tells all of the above.
  await waitFor('the series to hold every finished job and its cost', async () => {
    const series = await api('GET', '/api/v1/stats/series?range=1h');
    const grill = series.throughput.idea_grill;
    return (
      grill &&
      sum(grill.done) === jobs.grillDone.length &&
      sum(grill.failed) === 1 &&
      sum(series.cost_per_day.by_kind.idea_grill?.cost_usd ?? []) > 0 &&
      series.cost_per_day.by_owner?.['owner-b'] !== undefined
    );
  });
});
afterAll(async () => {
  gate?.open();
  await browser?.close();
  await killAll();
  await env.teardown();
});

async function fleetPage(login = LOGIN, path = '/') {
  const context = await browser.newContext({ httpCredentials: login, viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  await page.goto(`${base}${path}`);
  return { context, page };
}

const loaded = (page: Page, range: string) => page.locator(`#plots[data-state="loaded"][data-range="${range}"]`).waitFor();

/** What a plot drew: its uPlot data (x first, then each series), series labels and title. */
function drawn(page: Page, plot: string) {
  return page.evaluate((key) => {
    const chart = (globalThis as any).jobfleetPlots[key];
    return {
      data: chart.data as (number | null)[][],
      labels: chart.series.slice(1).map((series: { label: string }) => series.label) as string[],
      title: chart.root.querySelector('.u-title')?.textContent as string,
      legend: chart.root.querySelectorAll('.u-legend .u-series').length as number,
    };
  }, plot);
}

async function expectEveryPlotDrawn(page: Page, range: keyof typeof BUCKETS) {
  await loaded(page, range);
  for (const plot of PLOTS) {
    const points = Number(await page.locator(`#plot-${plot}`).getAttribute('data-points'));
    expect(points, `${range} ${plot}: points drawn`).toBeGreaterThan(0);
    const chart = await drawn(page, plot);
    expect(chart.title, plot).toBeTruthy();
    expect(chart.legend, plot).toBe(chart.labels.length + 1);
    expect(await page.locator(`#plot-${plot} .empty`).isHidden(), plot).toBe(true);
    const drawnPoints = chart.data
      .slice(1)
      .flat()
      .filter((value) => value !== null && value !== 0).length;
    expect(drawnPoints, plot).toBe(points);
  }
  for (const plot of ['throughput', 'queue_depth', 'wait', 'run', 'workers']) {
    expect((await drawn(page, plot)).data[0]!.length, `${range} ${plot}: buckets`).toBe(BUCKETS[range]);
  }
  // Rates per minute: summed back over the buckets' minutes they give the jobs counted.
  const throughput = await drawn(page, 'throughput');
  const minutes = { '1h': 1, '24h': 10, '7d': 60 }[range];
  const series = (label: string) => throughput.data[throughput.labels.indexOf(label) + 1]!;
  expect(sum(series('idea_grill done')) * minutes).toBeCloseTo(jobs.grillDone.length, 6);
  expect(sum(series('idea_grill failed')) * minutes).toBeCloseTo(jobs.grillFailed.length, 6);
  const queued = await drawn(page, 'queue_depth');
  expect(queued.data[queued.labels.indexOf('plan_chat') + 1]!.at(-1)).toBe(jobs.queuedChats.length);
  const owners = await drawn(page, 'cost_by_owner');
  expect(owners.labels).toEqual(['owner-a', 'owner-b']);
  expect(sum(owners.data[2]!)).toBeCloseTo(COST_PER_JOB, 6);
}

describe('the fleet page plots', () => {
  it('draws every plot with points, for each range the page offers, and re-fetches on a range change', async () => {
    // The page's scripts, uPlot's too, ask for the page's login.
    for (const file of ['/fleet-plots.js', '/fleet-feed-filters.js', '/vendor/uPlot.iife.min.js', '/vendor/uPlot.min.css']) {
      expect((await fetch(`${base}${file}`)).status, file).toBe(401);
    }
    const { context, page } = await fleetPage();
    await expectEveryPlotDrawn(page, '1h');
    expect(await page.locator('#range button[data-range="1h"]').getAttribute('aria-pressed')).toBe('true');
    await page.screenshot({ path: artifact('dashboard-plots-1h.png'), fullPage: true });
    await page.locator('#plots').screenshot({ path: artifact('dashboard-plots-1h-plots.png') });

    for (const range of ['24h', '7d'] as const) {
      const asked = page.waitForRequest((request) => request.url().endsWith(`/api/v1/stats/series?range=${range}`));
      await page.locator(`#range button[data-range="${range}"]`).click();
      await asked;
      await expectEveryPlotDrawn(page, range);
      expect(await page.locator(`#range button[data-range="${range}"]`).getAttribute('aria-pressed')).toBe('true');
      expect(new URL(page.url()).searchParams.get('range')).toBe(range);
      await page.locator('#plots').screenshot({ path: artifact(`dashboard-plots-${range}.png`) });
    }
    // The range chosen is in the address: a reload keeps it.
    await page.reload();
    await loaded(page, '7d');
    await context.close();
  });

  it("shows a note instead of an empty plot to an owner with no jobs, and no owners' plot to a non-admin", async () => {
    const carol = (await createToken(env.database.db, { name: 'carol', ownerId: 'owner-c', scopes: ['read'] })).secret;
    const { context, page } = await fleetPage({ username: 'carol', password: carol });
    await loaded(page, '1h');
    for (const plot of PLOTS.filter((key) => key !== 'cost_by_owner' && key !== 'workers')) {
      expect(await page.locator(`#plot-${plot}`).getAttribute('data-points'), plot).toBe('0');
      expect(await page.locator(`#plot-${plot} .empty`).isVisible(), plot).toBe(true);
      expect(await page.locator(`#plot-${plot} .empty h3`).textContent(), plot).toBeTruthy();
      expect(await page.locator(`#plot-${plot} .empty .note`).textContent(), plot).toMatch(/^No .+ in the last hour\.$/);
    }
    // Workers belong to the fleet: every login sees them.
    expect(Number(await page.locator('#plot-workers').getAttribute('data-points'))).toBeGreaterThan(0);
    expect(await page.locator('#plot-cost_by_owner').isHidden()).toBe(true);
    expect(await page.locator('#feed-filters select[name="owner_id"]').isHidden()).toBe(true);
    await page.locator('#plots').screenshot({ path: artifact('dashboard-plots-empty.png') });
    await context.close();
  });

  it('says so when the API does not answer, keeps asking, and draws again once it does', async () => {
    const context = await browser.newContext({ httpCredentials: LOGIN, viewport: { width: 1400, height: 1000 } });
    const series = `${base}/api/v1/stats/series**`;
    await context.route(series, (route) => route.abort('connectionrefused'));
    const page = await context.newPage();
    await page.goto(`${base}/`);
    await page.locator('#plots[data-state="unavailable"]').waitFor();
    await page.locator('#plots-note', { hasText: 'Plots unavailable: the API did not answer; trying again.' }).waitFor();
    await context.unroute(series);
    // The next poll (every 10 s for 1 h) finds the API back.
    await loaded(page, '1h');
    expect(await page.locator('#plots-note').isHidden()).toBe(true);
    await context.close();
  });
});

describe('the fleet page feed', () => {
  const feedIds = (page: Page) =>
    page
      .locator('#feed li')
      .evaluateAll((items) => items.map((item) => (item as unknown as { dataset: Record<string, string> }).dataset.entityId!));
  const live = (page: Page) => page.locator('#connection[data-state="live"]').waitFor();

  it('keeps its past over a reload, narrows to the filters chosen (kept in the address), and links each job to its page', async () => {
    const { context, page } = await fleetPage();
    await live(page);
    for (const id of [...jobs.grillDone, ...jobs.grillFailed]) await page.locator(`#feed li[data-entity-id="${id}"]`).first().waitFor();
    await page.reload();
    await live(page);
    // The replay is sent before the stream says it is connected: the past is here at once.
    for (const id of jobs.grillFailed) expect(await page.locator(`#feed li[data-entity-id="${id}"][data-to="failed"]`).count()).toBe(1);
    expect(await page.locator(`#feed li[data-entity-id="${jobs.queuedChats[0]}"][data-to="queued"]`).count()).toBe(1);

    // Every job named links to its page: in the feed, the running jobs and the workers' current jobs.
    const fed = page.locator(`#feed li[data-entity-id="${jobs.held}"] a.job-link`).first();
    expect(await fed.getAttribute('href')).toBe(`/jobs/${jobs.held}`);
    expect(await fed.textContent()).toBe(jobs.held.slice(0, 8));
    await page.locator(`#running tr[data-job-id="${jobs.held}"] a[href="/jobs/${jobs.held}"]`).waitFor();
    await page.locator(`#workers tbody a[href="/jobs/${jobs.held}"]`).waitFor();

    const filters = page.locator('#feed-filters');
    await filters.locator('select[name="kind"]').selectOption('plan_chat');
    await page.locator('#feed[data-filters="kind=plan_chat"]').waitFor();
    await live(page);
    expect(new Set(await feedIds(page))).toEqual(new Set(jobs.queuedChats));

    await filters.locator('select[name="kind"]').selectOption('idea_grill');
    await filters.locator('select[name="status"]').selectOption('failed');
    await page.locator('#feed[data-filters="kind=idea_grill&status=failed"]').waitFor();
    await live(page);
    expect(await feedIds(page)).toEqual(jobs.grillFailed);

    await filters.locator('select[name="status"]').selectOption('done');
    await filters.locator('select[name="owner_id"]').selectOption('owner-b');
    await page.locator('#feed[data-filters="kind=idea_grill&status=done&owner_id=owner-b"]').waitFor();
    await live(page);
    expect(await feedIds(page)).toEqual([jobs.bob]);
    await page.screenshot({ path: artifact('dashboard-feed-filtered.png'), fullPage: true });

    // The filters are in the address: a reload opens the same narrowed feed.
    const address = new URL(page.url());
    expect(Object.fromEntries(address.searchParams)).toEqual({ kind: 'idea_grill', status: 'done', owner_id: 'owner-b' });
    await page.reload();
    await live(page);
    expect(await filters.locator('select[name="owner_id"]').inputValue()).toBe('owner-b');
    expect(await feedIds(page)).toEqual([jobs.bob]);

    // Every filter off: the whole feed again.
    for (const name of ['kind', 'status', 'owner_id']) await filters.locator(`select[name="${name}"]`).selectOption('');
    await page.locator('#feed[data-filters=""]').waitFor();
    await live(page);
    expect((await feedIds(page)).length).toBeGreaterThan(jobs.grillDone.length);
    await context.close();
  });
});
