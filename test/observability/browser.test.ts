/**
 * The dashboards in a real browser (Debian's Chromium): Bull Board behind its login, showing every
 * queue with its counts, retrying a failed job that then runs; the board read-only for a worker token;
 * and the fleet page showing the workers and a job's transitions arriving live.
 */
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/auth/token.repository.js';
import { KINDS } from '../../src/queues/kinds.js';
import { workerConnection } from '../../src/queues/redis-connections.js';
import { artifact, launchChromium } from '../helpers/browser.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { makeBareRepo, removeTempDirs } from '../helpers/git-repos.js';
import { createIdeas, createProduct, createTasks } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

const LOGIN = { username: 'ops', password: 'ops-password-123' };
let env: TestEnv;
let browser: Browser;
let base: string;
let admin: Record<string, string>;

beforeAll(async () => {
  env = await createTestEnv({
    DASHBOARD_USER: LOGIN.username,
    DASHBOARD_PASSWORD: LOGIN.password,
    ADMIN_TOKEN: 'browser-admin-token-0123',
    // The sweeper would re-queue the failed delivery itself (its reconcile); here a human does it.
    RECONCILE_GRACE_MS: '600000',
  });
  admin = { authorization: 'Bearer browser-admin-token-0123' };
  // Every kind but plan_chat has a worker, so a plan_chat job can be failed by hand first.
  const fleet = spawnJobfleet(['start', '--kinds', 'idea_grill,idea_make_plan,task_implementation,sprint_implementation'], env.env);
  base = (await fleet.line(/Fleet:\s+(http:\/\/\S+)\//))[1]!;
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await killAll();
  await env.teardown();
  removeTempDirs();
});

async function api(method: string, path: string, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...admin, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return (await response.json()) as any;
}

/** A plan_chat job whose BullMQ delivery failed for good (as after a long Postgres outage): its row is still queued. */
async function failedDelivery(): Promise<string> {
  const db = env.database.db;
  const [idea] = await createIdeas(db, await createProduct(db), 1, 'PLAN_READY');
  const job = await api('POST', `/api/v1/ideas/${idea}/chat`, { message: 'Hello?' });
  const manual = new Worker(KINDS.PLAN_CHAT.queue, null, {
    connection: workerConnection(env.redis, env.logger).connection,
    prefix: env.prefix,
  });
  try {
    const delivery = await manual.getNextJob('browser-test');
    expect(delivery?.id).toBe(job.id);
    await delivery!.moveToFailed(new UnrecoverableError('Postgres was unreachable'), 'browser-test');
  } finally {
    await manual.close();
  }
  return job.id;
}

describe('Bull Board', () => {
  it('asks for a login, shows every queue with its counts (also at /admin/queues/), and retries a failed job that then runs', async () => {
    const anonymous = await fetch(`${base}/admin/queues`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toContain('Basic');
    expect((await fetch(`${base}/admin/queues/`)).status).toBe(401);

    const jobId = await failedDelivery();
    const context = await browser.newContext({ httpCredentials: LOGIN });
    const page = await context.newPage();
    await page.goto(`${base}/admin/queues`);
    for (const kind of Object.values(KINDS)) await page.getByText(kind.queue, { exact: true }).first().waitFor();
    await page.getByText('1 Job').first().waitFor();
    await page.screenshot({ path: artifact('bull-board-queues.png'), fullPage: true });

    // With a trailing slash, the same board.
    await page.goto(`${base}/admin/queues/`);
    for (const kind of Object.values(KINDS)) await page.getByText(kind.queue, { exact: true }).first().waitFor();

    await page.goto(`${base}/admin/queues/queue/plan_chat?status=failed`);
    await page.getByText(jobId).first().waitFor();
    await page.getByText('Postgres was unreachable').first().waitFor();
    await page.screenshot({ path: artifact('bull-board-failed.png'), fullPage: true });
    await page.getByRole('button', { name: 'Retry all' }).click();
    await page.screenshot({ path: artifact('bull-board-retry-confirm.png'), fullPage: true });
    const confirm = page.getByRole('button', { name: /^(Confirm|Retry|Yes)$/ });
    if (await confirm.count()) await confirm.first().click();
    const queue = new Queue(KINDS.PLAN_CHAT.queue, { connection: workerConnection(env.redis, env.logger).connection, prefix: env.prefix });
    try {
      await waitFor('the delivery to wait again', async () => (await queue.getJobState(jobId)) === 'prioritized');
    } finally {
      await queue.close();
    }
    expect((await api('GET', `/api/v1/jobs/${jobId}`)).status).toBe('queued');

    const chatWorker = spawnJobfleet(['worker', '--kinds', 'plan_chat'], env.env);
    await chatWorker.line(/jobfleet worker \S+ running/);
    await waitFor('the retried job to run to done', async () => (await api('GET', `/api/v1/jobs/${jobId}`)).status === 'done');
    await page.goto(`${base}/admin/queues/queue/plan_chat?status=completed`);
    await page.getByText(jobId).first().waitFor();
    expect(await page.getByRole('button', { name: 'Clean all' }).count()).toBe(1);
    await page.screenshot({ path: artifact('bull-board-retried.png'), fullPage: true });
    await context.close();
  });

  it('is read-only for a worker token: no retry buttons, and writes refused by the server', async () => {
    const db = env.database.db;
    const [idea] = await createIdeas(db, await createProduct(db), 1, 'DRAFT');
    const jobId = (await api('POST', `/api/v1/ideas/${idea}/grill`, {})).id;
    await waitFor('the job to be done', async () => (await api('GET', `/api/v1/jobs/${jobId}`)).status === 'done');
    const reader = (await createToken(env.database.db, { name: 'worker', ownerId: 'system', scopes: ['worker'] })).secret;
    const context = await browser.newContext({ httpCredentials: { username: 'worker', password: reader } });
    const page = await context.newPage();
    await page.goto(`${base}/admin/queues`);
    await page.getByText('jobfleet (read-only)').first().waitFor();
    await page.goto(`${base}/admin/queues/queue/idea_grill?status=completed`);
    await page.getByText(jobId).first().waitFor();
    expect(await page.getByRole('button', { name: 'Clean all' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Retry all' }).count()).toBe(0);
    await page.screenshot({ path: artifact('bull-board-read-only.png'), fullPage: true });
    await context.close();

    const retry = await fetch(`${base}/admin/queues/api/queues/plan_chat/retry/failed`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${reader}` },
    });
    expect(retry.status).toBe(403);
    expect(((await retry.json()) as any).error.code).toBe('forbidden');
  });
});

describe('the fleet page', () => {
  it("shows the workers and a job's transitions as they happen, and the recent ones again after a reload", async () => {
    const context = await browser.newContext({ httpCredentials: LOGIN });
    const page = await context.newPage();
    await page.goto(`${base}/`);
    await page.locator('#connection[data-state="live"]').waitFor();
    await page.locator('#workers tbody tr').first().waitFor();
    expect(await page.locator('#workers tbody tr').first().textContent()).toContain('alive');

    const db = env.database.db;
    const [idea] = await createIdeas(db, await createProduct(db), 1, 'DRAFT');
    const job = await api('POST', `/api/v1/ideas/${idea}/grill`, {});
    for (const status of ['queued', 'claimed', 'running', 'done']) {
      await page.locator(`#feed li[data-entity-id="${job.id}"][data-to="${status}"]`).waitFor();
    }
    await page.locator(`#feed li[data-entity-id="${idea}"][data-to="grilled"]`).waitFor();
    await page.locator('#jobs tbody tr[data-kind="idea_grill"]').waitFor();
    await page.screenshot({ path: artifact('fleet-page.png'), fullPage: true });

    // A reload opens the feed with the recent changes, not empty.
    await page.reload();
    await page.locator('#connection[data-state="live"]').waitFor();
    for (const status of ['queued', 'claimed', 'running', 'done']) {
      expect(await page.locator(`#feed li[data-entity-id="${job.id}"][data-to="${status}"]`).count()).toBe(1);
    }
    await page.screenshot({ path: artifact('fleet-page-reloaded.png'), fullPage: true });
    await context.close();
  });

  it('lists an implementation job with the branch it pushed, its size and its check', async () => {
    const repo = makeBareRepo();
    const db = env.database.db;
    const product = await api('POST', '/api/v1/products', {
      name: 'In a repository',
      owner_id: 'owner-a',
      repository_url: repo.dir,
      check_command: 'test -f NOTES.md',
    });
    const [task] = await createTasks(db, product.id, 1, { plan: 'Write the notes. [dry-run:write=NOTES.md]' });
    const context = await browser.newContext({ httpCredentials: LOGIN });
    const page = await context.newPage();
    await page.goto(`${base}/`);
    await page.locator('#connection[data-state="live"]').waitFor();

    const job = await api('POST', '/api/v1/jobs', { kind: 'task_implementation', task_id: task });
    const row = page.locator(`#work tbody tr[data-job-id="${job.id}"]`);
    await row.filter({ hasText: 'done' }).waitFor();
    const text = await row.textContent();
    expect(text).toContain(`jobfleet/task-${task}`);
    expect(text).toContain('+1 −0');
    expect(text).toContain('passed, attempt 1/');
    await page.screenshot({ path: artifact('fleet-page-work.png'), fullPage: true });
    await context.close();
  });
});
