/**
 * The job and sprint-run pages in a real browser (Debian's Chromium) against `jobfleet start`
 * with a command agent that talks back over MCP (test/fixtures/agents/mcp-page-agent.mjs): a job's
 * timeline, log, progress and question arriving while the page is open, the question answered
 * through the page's form, then its usage and result; hostile text shown as text; another owner's
 * job refused with the API's 404; a sprint run's steps linked to their jobs.
 */
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/auth/token.repository.js';
import { artifact, launchChromium } from '../helpers/browser.js';
import { makeBareRepo, removeTempDirs } from '../helpers/git-repos.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { createIdeas, createTasks } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

const AGENT = path.join(import.meta.dirname, '..', 'fixtures', 'agents', 'mcp-page-agent.mjs');
const LOGIN = { username: 'ops', password: 'ops-password-123' };
const ADMIN = 'job-page-admin-token-0123';
/** Would run if it were ever put into the page as markup. */
const HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';

let env: TestEnv;
let browser: Browser;
let base: string;
let productId: string;

beforeAll(async () => {
  env = await createTestEnv({
    DASHBOARD_USER: LOGIN.username,
    DASHBOARD_PASSWORD: LOGIN.password,
    ADMIN_TOKEN: ADMIN,
    AGENT: 'command',
    AGENT_COMMAND: `${JSON.stringify(process.execPath)} ${JSON.stringify(AGENT)}`,
  });
  const fleet = spawnJobfleet(['start'], env.env);
  base = (await fleet.line(/Fleet:\s+(http:\/\/\S+)\//))[1]!;
  productId = (await api('POST', '/api/v1/products', { name: 'Pages', owner_id: 'owner-a' })).id;
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await killAll();
  await env.teardown();
  removeTempDirs();
});

async function api(method: string, path_: string, body?: unknown) {
  const response = await fetch(`${base}${path_}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const parsed = (await response.json()) as any;
  expect(response.ok, `${method} ${path_}: ${JSON.stringify(parsed)}`).toBe(true);
  return parsed;
}

async function open(url: string, login = LOGIN): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ httpCredentials: login });
  const page = await context.newPage();
  await page.goto(`${base}${url}`);
  return { context, page };
}

const timelineOf = (page: Page) =>
  page.locator('#timeline li').evaluateAll((items) => items.map((item) => (item as unknown as { dataset: { to: string } }).dataset.to));

/** Nothing hostile ran, and nothing of it became an element. */
async function expectInert(page: Page) {
  expect(await page.evaluate(() => (globalThis as any).__pwned)).toBeUndefined();
  expect(await page.locator('main img, main script').count()).toBe(0);
}

describe('the job page', () => {
  it("shows a job's timeline, log, progress and question live, takes the answer, then its usage and result", async () => {
    const [ideaId] = await createIdeas(env.database.db, productId, 1, 'PLAN_READY');
    await env.database.db.updateTable('ideas').set({ title: HOSTILE }).where('id', '=', ideaId!).execute();
    const job = await api('POST', `/api/v1/ideas/${ideaId}/chat`, { message: 'Which database should we use?' });
    // The agent is waiting for its answer when the page opens.
    await waitFor('the agent to ask', async () => (await api('GET', `/api/v1/jobs/${job.id}/questions`)).items[0]);

    const { context, page } = await open(`/jobs/${job.id}`);
    await page.locator('#connection[data-state="live"]').waitFor();
    await page.locator('#job-status [data-status="running"]').waitFor();
    expect(await timelineOf(page)).toEqual(['queued', 'claimed', 'running']);
    const first = page.locator('#timeline li').first();
    expect(await first.locator('.change').textContent()).toBe('∅ → queued');
    expect(await first.locator('.trigger').textContent()).toBe('created');
    expect(await page.locator('#job-kind').textContent()).toBe('plan_chat');
    expect(await page.locator('[data-fact="owner"]').textContent()).toBe('owner-a');
    await page.locator('[data-fact="product"]', { hasText: 'Pages' }).waitFor();
    // The idea's title, hostile as it is, is text in the header.
    await page.locator('[data-subject="idea"]', { hasText: HOSTILE }).waitFor();
    // What was written before the page opened: the chat message (the idea's log), the agent's stderr, its progress.
    await page.locator('#log li[data-source="idea_log"][data-type="chat_message"]', { hasText: 'Which database should we use?' }).waitFor();
    await page.locator('#log li[data-source="worker"]', { hasText: 'agent: reading the plan' }).waitFor();
    await page.locator('#log li[data-source="worker"]', { hasText: 'progress: 10% Reading the plan' }).waitFor();
    expect(await page.locator('#progress-text').textContent()).toBe('10% Reading the plan');

    const question = page.locator('#questions li[data-status="open"]');
    expect(await question.locator('.text').textContent()).toBe('Which database?');
    await page.screenshot({ path: artifact('job-page-question.png'), fullPage: true });
    await question.getByLabel('Postgres').check();
    await question.getByRole('button', { name: 'Answer' }).click();

    // All of this arrives after the page loaded, through the event stream.
    await page.locator('#questions li[data-status="answered"]', { hasText: 'answer: Postgres' }).waitFor();
    await page.locator('#progress-text', { hasText: '80% Heard: Postgres' }).waitFor();
    await page.locator('#log li[data-source="worker"]', { hasText: 'progress: 80% Heard: Postgres' }).waitFor();
    await page.locator('#job-status [data-status="done"]').waitFor();
    await waitFor('the timeline to reach done', async () => (await timelineOf(page)).at(-1) === 'done');
    expect(await timelineOf(page)).toEqual(['queued', 'claimed', 'running', 'done']);
    await page.locator('#log li[data-type="chat_reply"]', { hasText: 'Planned with Postgres.' }).waitFor();

    // Usage: what the agent recorded while it ran, and its final answer's.
    expect(await page.locator('[data-fact="input-tokens"]').textContent()).toBe('1300');
    expect(await page.locator('[data-fact="output-tokens"]').textContent()).toBe('360');
    expect(await page.locator('[data-fact="cost"]').textContent()).toBe('$0.0500');
    expect(await page.locator('#outcome-section').getAttribute('data-outcome')).toBe('result');
    expect(await page.locator('#outcome-text').textContent()).toBe('Planned with Postgres.');
    await expectInert(page);
    await page.screenshot({ path: artifact('job-page.png'), fullPage: true });
    await context.close();
  });

  it("shows a cancellation's hostile reason as text, and its error", async () => {
    const [ideaId] = await createIdeas(env.database.db, productId, 1, 'DRAFT');
    const job = await api('POST', `/api/v1/ideas/${ideaId}/grill`, {});
    const { context, page } = await open(`/jobs/${job.id}`);
    await page.locator('#connection[data-state="live"]').waitFor();
    await page.locator('#job-status [data-status="running"]').waitFor();
    await api('POST', `/api/v1/jobs/${job.id}/cancel`, { reason: HOSTILE });
    await page.locator('#job-status [data-status="cancelled"]').waitFor();
    const last = page.locator('#timeline li[data-to="cancelled"]');
    await last.waitFor();
    expect(await last.locator('.reason').textContent()).toBe(HOSTILE);
    await page.locator('#outcome-section[data-outcome="error"]').waitFor();
    await expectInert(page);
    await context.close();
  });

  it("shows the API's 404 for another owner's job, and a 404 page for an id that is no UUID", async () => {
    const [ideaId] = await createIdeas(env.database.db, productId, 1, 'PLAN_READY');
    const job = await api('POST', `/api/v1/ideas/${ideaId}/chat`, { message: 'Anyone there?' });
    const stranger = (await createToken(env.database.db, { name: 'stranger', ownerId: 'owner-b', scopes: ['read'] })).secret;
    const { context, page } = await open(`/jobs/${job.id}`, { username: 'stranger', password: stranger });
    await page.locator('#problem', { hasText: `job ${job.id} does not exist` }).waitFor();
    expect(await page.locator('#job-id').textContent()).toBe('');
    expect(await page.locator('#log li').count()).toBe(0);

    const missing = await page.goto(`${base}/jobs/not-a-uuid`);
    expect(missing?.status()).toBe(404);
    expect(await page.locator('#problem').textContent()).toContain('No such job');
    const anonymous = await fetch(`${base}/jobs/${job.id}`);
    expect(anonymous.status).toBe(401);
    await context.close();
  });

  it("says where a read failed, or the worker's lines are away, and reads it again until it is whole", async () => {
    const [ideaId] = await createIdeas(env.database.db, productId, 1, 'DRAFT');
    const job = await api('POST', `/api/v1/ideas/${ideaId}/grill`, {});
    await api('POST', `/api/v1/jobs/${job.id}/cancel`, { reason: 'not now' });
    const context = await browser.newContext({ httpCredentials: LOGIN });
    // The API as it answers while a backing service is away: the history refused; the log's first
    // read without the worker's lines (Redis away), the next ones whole.
    const unavailable = { error: { code: 'service_unavailable', message: 'a backing service is unavailable; try again shortly' } };
    await context.route(`${base}/api/v1/jobs/${job.id}/history`, (route) =>
      route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify(unavailable) }),
    );
    let logReads = 0;
    await context.route(`${base}/api/v1/jobs/${job.id}/logs**`, (route) => {
      logReads += 1;
      if (logReads > 1) return route.continue();
      const start = Buffer.from(JSON.stringify({ delivery: 0, line: 0, ideaLog: null })).toString('base64url');
      const body = { items: [], next_after: start, more: false, worker_unavailable: true };
      return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(body) });
    });
    const page = await context.newPage();
    await page.goto(`${base}/jobs/${job.id}`);

    await page.locator('#timeline-problem', { hasText: 'the timeline could not be read: a backing service is unavailable' }).waitFor();
    await page.locator('#log-problem', { hasText: "the worker's lines are unavailable" }).waitFor();
    await page.screenshot({ path: artifact('job-page-read-problems.png'), fullPage: true });
    // The job has ended, yet what could not be read is read again, and the notes go once it is.
    await context.unroute(`${base}/api/v1/jobs/${job.id}/history`);
    await page.locator('#timeline li[data-to="cancelled"]').waitFor();
    await page.locator('#timeline-problem').waitFor({ state: 'hidden' });
    await page.locator('#log-problem').waitFor({ state: 'hidden' });
    expect(logReads).toBeGreaterThan(1);
    await context.close();
  });
});

describe("an implementation job's page", () => {
  it('shows the branch it pushed, its diff stats and its check', async () => {
    const repo = makeBareRepo();
    const product = await api('POST', '/api/v1/products', {
      name: 'In a repository',
      owner_id: 'owner-a',
      repository_url: repo.dir,
      check_command: 'test -f NOTES.md',
    });
    const [taskId] = await createTasks(env.database.db, product.id, 1);
    const job = await api('POST', '/api/v1/jobs', { kind: 'task_implementation', task_id: taskId });
    const { context, page } = await open(`/jobs/${job.id}`);
    await page.locator('#job-status [data-status="done"]').waitFor();
    expect(await page.locator('[data-fact="branch"]').textContent()).toBe(`jobfleet/task-${taskId}`);
    expect(await page.locator('[data-fact="diff"]').textContent()).toBe('1 file, +1 −0');
    expect(await page.locator('#changed-files li').allTextContents()).toEqual(['NOTES.md']);
    expect(await page.locator('[data-fact="check-command"]').textContent()).toBe('test -f NOTES.md');
    expect(await page.locator('[data-fact="check"]').textContent()).toMatch(/^passed, attempt 1\/\d+$/);
    await page.locator('#log li[data-source="worker"]', { hasText: 'check passed' }).waitFor();
    await page.screenshot({ path: artifact('job-page-workspace.png'), fullPage: true });
    await context.close();
  });
});

describe('Bull Board', () => {
  it('links each job to its page, without storing the link with the job, and the menu back to the fleet page', async () => {
    const [taskId] = await createTasks(env.database.db, productId, 1);
    const job = await api('POST', '/api/v1/jobs', { kind: 'task_implementation', task_id: taskId });
    await waitFor('the job to be done', async () => (await api('GET', `/api/v1/jobs/${job.id}`)).status === 'done');
    const { context, page } = await open('/admin/queues/queue/task_implementation?status=completed');
    const toPage = page.getByRole('link', { name: 'Job page' }).first();
    await toPage.waitFor();
    expect(await toPage.getAttribute('href')).toBe(`/jobs/${job.id}`);
    // The delivery's data is the job's id alone: the link is made when the board shows it.
    const board = await fetch(`${base}/admin/queues/api/queues?activeQueue=task_implementation&status=completed`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    const shown = ((await board.json()) as any).queues
      .find((queue: any) => queue.name === 'task_implementation')
      .jobs.find((shown: any) => shown.data.id === job.id);
    expect(shown.data).toEqual({ id: job.id });
    expect(shown.externalUrl).toEqual({ displayText: 'Job page', href: `/jobs/${job.id}` });
    await page.screenshot({ path: artifact('bull-board-job-link.png'), fullPage: true });
    // Its menu leads back to the fleet page.
    const uiConfig = JSON.parse((await page.locator('#__UI_CONFIG__').textContent())!);
    expect(uiConfig.miscLinks).toEqual([{ text: 'Fleet page', url: '/' }]);
    await context.close();
  });
});

describe('the sprint-run page', () => {
  let runId: string;
  it('shows the run, its timeline and its steps, each linked to the job that ran it', async () => {
    const sprint = await api('POST', '/api/v1/sprints', { product_id: productId, name: 'Sprint' });
    const pbi = await api('POST', '/api/v1/pbis', { product_id: productId, title: 'PBI' });
    const story = await api('POST', '/api/v1/stories', { pbi_id: pbi.id, title: 'Story' });
    await api('POST', `/api/v1/stories/${story.id}/transitions`, { to: 'in_sprint', sprint_id: sprint.id });
    for (const title of ['Lay the groundwork', HOSTILE]) {
      await api('POST', '/api/v1/tasks', { story_id: story.id, title, implementation_plan: `Implement ${title}.` });
    }
    const started = await api('POST', `/api/v1/sprints/${sprint.id}/runs`, { mode: 'per_task' });
    runId = started.run.id;

    const { context, page } = await open(`/sprint-runs/${runId}`);
    await page.locator('#connection[data-state="live"]').waitFor();
    await page.locator('#run-status [data-status="done"]').waitFor();
    const rows = page.locator('#steps tbody tr');
    await waitFor('both steps to be completed on the page', async () => (await rows.locator('[data-status="completed"]').count()) === 2);
    const steps = (await api('GET', `/api/v1/sprint-runs/${runId}/steps`)).items;
    for (const step of steps) {
      const row = page.locator(`#steps tbody tr[data-step-id="${step.id}"]`);
      expect(await row.locator('td.job a').getAttribute('href')).toBe(`/jobs/${step.job_id}`);
    }
    expect(await rows.nth(1).locator('td').nth(1).textContent()).toBe(HOSTILE);
    expect((await timelineOf(page))[0]).toBe('queued');
    expect((await timelineOf(page)).at(-1)).toBe('done');
    await page.screenshot({ path: artifact('sprint-run-page.png'), fullPage: true });

    // A step's job link leads to that job's page.
    await rows.first().locator('td.job a').click();
    await page.locator('#job-status [data-status="done"]').waitFor();
    expect(await page.locator('#job-id').textContent()).toBe(steps[0].job_id);
    await page.locator(`[data-subject="sprint run"] a[href="/sprint-runs/${runId}"]`).waitFor();
    await expectInert(page);
    await context.close();
  });

  it('says in each section whose read failed that it did, and reads it again until it is whole', async () => {
    const context = await browser.newContext({ httpCredentials: LOGIN });
    const steps = `${base}/api/v1/sprint-runs/${runId}/steps`;
    const jobs = `${base}/api/v1/jobs?sprint_run_id=${runId}**`;
    const unavailable = { error: { code: 'service_unavailable', message: 'a backing service is unavailable; try again shortly' } };
    await context.route(steps, (route) =>
      route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify(unavailable) }),
    );
    await context.route(jobs, (route) => route.abort('connectionrefused'));
    const page = await context.newPage();
    await page.goto(`${base}/sprint-runs/${runId}`);
    await page.locator('#steps-problem', { hasText: 'the steps could not be read: a backing service is unavailable' }).waitFor();
    await page.locator('#jobs-problem', { hasText: 'the jobs could not be read: the API did not answer' }).waitFor();
    expect(await page.locator('#timeline-problem').isHidden()).toBe(true);
    await context.unroute(steps);
    await context.unroute(jobs);
    // The run has ended: no event will come, the page's own tick reads the sections again.
    await page.locator('#steps-problem').waitFor({ state: 'hidden' });
    await page.locator('#jobs-problem').waitFor({ state: 'hidden' });
    expect(await page.locator('#steps tbody tr').count()).toBe(2);
    expect(await page.locator('#jobs tbody tr').count()).toBeGreaterThan(0);
    await context.close();
  });
});
