/**
 * The fleet page's side of ask_user and report_progress, in a real browser (Debian's Chromium)
 * against a real API process: open questions listed with their options, answered through the
 * page's own forms (a free answer and a choice), questions arriving and closing live, and a
 * running job's last progress.
 */
import { Redis } from 'ioredis';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClaudeJob } from '../../src/db/tables/claude-job.table.js';
import { noticeJob, progressEvent, publishJobNotices, questionEvent } from '../../src/events/job-notices.js';
import { askQuestion, closeQuestions, getQuestion, questionView } from '../../src/jobs/job-questions.js';
import { artifact, launchChromium } from '../helpers/browser.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { createRunningJob } from '../helpers/running-jobs.js';
import { createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

const LOGIN = { username: 'ops', password: 'ops-password-123' };
let env: TestEnv;
let browser: Browser;
let redis: Redis;
let base: string;
let productId: string;

beforeAll(async () => {
  env = await createTestEnv({ DASHBOARD_USER: LOGIN.username, DASHBOARD_PASSWORD: LOGIN.password });
  const api = spawnJobfleet(['api'], env.env);
  base = (await api.line(/listening on (http:\/\/\S+)\/api\/v1/))[1]!;
  redis = new Redis(env.redisUrl);
  productId = await createProduct(env.database.db, 'owner-a');
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  redis?.disconnect();
  await killAll();
  await env.teardown();
});

async function asked(job: ClaudeJob, question: string, options: string[] | null = null) {
  const row = await askQuestion(env.database.db, { jobId: job.id, productId: job.product_id, question, options });
  await publishJobNotices(redis, env.prefix, [
    questionEvent('question_asked', await noticeJob(env.database.db, job.id), questionView(row)),
  ]);
  return row;
}

async function openPage(): Promise<Page> {
  const context = await browser.newContext({ httpCredentials: LOGIN });
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await page.locator('#connection[data-state="live"]').waitFor();
  return page;
}

describe('the fleet page', () => {
  it('lists open questions with their job and options and answers them through its forms; questions arrive and close live', async () => {
    const job = await createRunningJob(env.database.db, productId);
    const before = await asked(job, 'What should the cache expire after?');
    const page = await openPage();

    const waiting = page.locator(`#questions li[data-question-id="${before.id}"]`);
    await waiting.waitFor();
    expect(await waiting.textContent()).toContain('What should the cache expire after?');
    expect(await waiting.textContent()).toContain(`idea_grill ${job.id.slice(0, 8)}`);
    expect(await page.locator('#questions-open').textContent()).toBe('1 open');

    // Asked while the page is open: it appears without a reload, with its options to choose from.
    const choice = await asked(job, 'Which merge strategy?', ['rebase', 'squash']);
    const live = page.locator(`#questions li[data-question-id="${choice.id}"]`);
    await live.waitFor();
    expect(await live.getByRole('radio').count()).toBe(2);
    await page.locator(`#feed li[data-entity-id="${job.id}"][data-notice="question_asked"]`).first().waitFor();
    await page.screenshot({ path: artifact('fleet-page-questions.png'), fullPage: true });

    await live.getByLabel('squash').check();
    await live.getByRole('button', { name: 'Answer' }).click();
    await live.waitFor({ state: 'detached' });
    await waitFor('the choice to be stored', async () => (await getQuestion(env.database.db, choice.id))?.status === 'ANSWERED');
    const stored = (await getQuestion(env.database.db, choice.id))!;
    expect(stored.answer).toBe('squash');
    expect(stored.answered_by_token_id).not.toBeNull();

    await waiting.getByLabel('answer').fill('One hour.');
    await waiting.getByRole('button', { name: 'Answer' }).click();
    await waiting.waitFor({ state: 'detached' });
    expect((await getQuestion(env.database.db, before.id))!).toMatchObject({ status: 'ANSWERED', answer: 'One hour.' });
    await page.locator(`#feed li[data-entity-id="${job.id}"][data-notice="question_answered"]`).first().waitFor();

    // A question whose job ended leaves the page by itself.
    const doomed = await asked(job, 'Still there?');
    const gone = page.locator(`#questions li[data-question-id="${doomed.id}"]`);
    await gone.waitFor();
    const [closed] = await closeQuestions(env.database.db, [job.id], 'job_cancelled');
    await publishJobNotices(redis, env.prefix, [
      questionEvent('question_closed', await noticeJob(env.database.db, job.id), questionView(closed!)),
    ]);
    await gone.waitFor({ state: 'detached' });
    expect(await page.locator('#questions li').count()).toBe(0);
    expect(await page.locator('#questions-note').isVisible()).toBe(true);
    await page.context().close();
  });

  it('says why an answer was refused: a question answered meanwhile elsewhere', async () => {
    const job = await createRunningJob(env.database.db, productId);
    const question = await askQuestion(env.database.db, { jobId: job.id, productId, question: 'Who answers first?', options: null });
    const page = await openPage();
    const item = page.locator(`#questions li[data-question-id="${question.id}"]`);
    await item.waitFor();
    // Someone else answers just before this page's answer reaches the server.
    await page.route(`**/api/v1/jobs/${job.id}/questions/${question.id}/answer`, async (route) => {
      await env.database.db
        .updateTable('job_questions')
        .set({ status: 'ANSWERED', answer: 'someone else' })
        .where('id', '=', question.id)
        .execute();
      await route.continue();
    });
    await item.getByLabel('answer').fill('me');
    const refused = page.waitForResponse((response) => response.url().endsWith('/answer'));
    await item.getByRole('button', { name: 'Answer' }).click();
    expect((await refused).status()).toBe(409);
    await item.locator('.outcome', { hasText: 'answered already' }).waitFor();
    expect(await item.getByRole('button', { name: 'Answer' }).isDisabled()).toBe(true);
    expect((await getQuestion(env.database.db, question.id))!.answer).toBe('someone else');
    await page.context().close();
  });

  it("shows a running job's last progress, and each report as it comes", async () => {
    const job = await createRunningJob(env.database.db, productId);
    await env.database.db
      .updateTable('claude_jobs')
      .set({ progress: JSON.stringify({ message: 'Reading the code', percent: 20, at: new Date().toISOString() }) })
      .where('id', '=', job.id)
      .execute();
    const page = await openPage();
    const progress = page.locator(`#running tr[data-job-id="${job.id}"] td.progress`);
    await progress.filter({ hasText: '20% Reading the code' }).waitFor();

    await publishJobNotices(redis, env.prefix, [
      progressEvent(await noticeJob(env.database.db, job.id), { message: 'Writing tests', percent: 60 }),
    ]);
    await progress.filter({ hasText: '60% Writing tests' }).waitFor();
    const fed = page.locator(`#feed li[data-entity-id="${job.id}"][data-notice="progress"]`);
    await fed.waitFor();
    expect(await fed.textContent()).toContain('progress: 60% Writing tests');
    await page.screenshot({ path: artifact('fleet-page-progress.png'), fullPage: true });
    await page.context().close();
  });
});
