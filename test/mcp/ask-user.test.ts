/**
 * `ask_user` against real API, worker and sweeper processes: an agent asks, a person answers over
 * HTTP while the agent waits, and the agent gets the answer; nobody answering in time is an
 * answer too; a job that ends takes its open question with it. While the tool waits, the job's
 * lease stays alive: the sweeper (running here with short leases) must not fail the job as
 * worker_lost, neither under a worker process nor for a pull-mode session that does nothing but wait.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { startApiProcess, type ApiProcess } from '../helpers/api-process.js';
import { type EventClient, sseClient } from '../helpers/event-clients.js';
import { connectMcp, mcpUrl, type McpSession } from '../helpers/mcp-client.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, FAST_TIMINGS, type TestEnv } from '../helpers/test-env.js';
import { finished as finishedJob, seenBy as agentNotes } from '../helpers/mcp-agents.js';
import { waitFor } from '../helpers/wait-for.js';

const AGENT = path.join(import.meta.dirname, '..', 'fixtures', 'agents', 'mcp-ask-agent.mjs');
/** Short leases for pull-mode claims too: a wait that did not renew the lease would lose the job. */
const PULL_LEASE_MS = '1500';

let env: TestEnv;
let api: ApiHarness;
let server: ApiProcess;
let agentDir: string;
let product: string;
let events: EventClient;
const sessions: McpSession[] = [];

beforeAll(async () => {
  agentDir = mkdtempSync(path.join(os.tmpdir(), 'jobfleet-mcp-ask-'));
  env = await createTestEnv({
    AGENT: 'command',
    AGENT_COMMAND: `${JSON.stringify(process.execPath)} ${JSON.stringify(AGENT)}`,
    MCP_AGENT_DIR: agentDir,
    PULL_LEASE_MS,
  });
  api = await createApiHarness(env);
  product = await createProduct(env.database.db);
  server = await startApiProcess(env.env);
  events = sseClient(`${server.url}/api/v1/events`, { authorization: `Bearer ${api.adminSecret}` });
  await events.connected;
  const sweeper = spawnJobfleet(['sweeper'], env.env);
  // The worker serves chats only: the pull-mode tests below claim grills themselves.
  const worker = spawnJobfleet(['worker', '--kinds', 'plan_chat'], { ...env.env, API_URL: server.url });
  await sweeper.line(/sweeper running/);
  await worker.line(/jobfleet worker \S+ running/);
});
afterAll(async () => {
  for (const session of sessions) await session.close().catch(() => undefined);
  events?.close();
  await killAll();
  await api?.close();
  await env?.teardown();
  rmSync(agentDir, { recursive: true, force: true });
});

/** A chat job whose agent asks what `ask` says (the fixture reads it from the message). */
async function askingJob(ask: { question: string; options?: string[]; wait_seconds: number }): Promise<string> {
  const [idea] = await createIdeas(env.database.db, product, 1, 'PLAN_READY');
  const posted = await api.call('POST', `/api/v1/ideas/${idea}/chat`, { message: JSON.stringify(ask) });
  expect(posted.status).toBe(202);
  return posted.body.id;
}

const questionsOf = async (jobId: string) => {
  const { status, body } = await server.call(api.adminSecret, 'GET', `/api/v1/jobs/${jobId}/questions`);
  expect(status).toBe(200);
  return body.items as any[];
};

const questionIn = (jobId: string, status: string) =>
  waitFor(`a question of job ${jobId} to be ${status}`, async () => (await questionsOf(jobId)).find((q) => q.status === status));

const answer = (jobId: string, questionId: string, text: string) =>
  server.call(api.adminSecret, 'POST', `/api/v1/jobs/${jobId}/questions/${questionId}/answer`, { answer: text });

const finished = (id: string) => finishedJob(api, id);

/** What the agent noted about its calls (test/fixtures/agents/mcp-*.mjs). */
const seenBy = (jobId: string) => agentNotes(agentDir, jobId);

const eventOf = (type: string, jobId: string) =>
  events.waitFor(`a live ${type} event of job ${jobId}`, (received) =>
    received.some((event) => event.type === type && JSON.stringify(event.data).includes(jobId)),
  );

async function historyOf(jobId: string) {
  const rows = await env.database.db.selectFrom('transitions').select('to_status').where('entity_id', '=', jobId).orderBy('id').execute();
  return rows.map((row) => row.to_status);
}

describe('a command agent asking its user', () => {
  it('gets the answer a person gives over HTTP while it waits, and the question is answered for good', async () => {
    const question = 'Which database should the export read from?';
    const id = await askingJob({ question, options: ['postgres', 'sqlite'], wait_seconds: 120 });
    const asked = await questionIn(id, 'open');
    expect(asked).toMatchObject({ job_id: id, question, options: ['postgres', 'sqlite'], status: 'open', answer: null });
    await eventOf('question_asked', id);

    // An answer that is not one of the options changes nothing.
    const wrong = await answer(id, asked.id, 'mysql');
    expect(wrong.status).toBe(422);
    expect(wrong.body.error.code).toBe('validation_failed');
    const given = await answer(id, asked.id, 'postgres');
    expect(given.status, JSON.stringify(given.body)).toBe(200);
    expect(given.body.question).toMatchObject({ id: asked.id, status: 'answered', answer: 'postgres' });

    const job = await finished(id);
    expect(job.status, JSON.stringify(job.error)).toBe('done');
    expect(seenBy(id).ask).toMatchObject({ isError: false, data: { question_id: asked.id, status: 'answered', answer: 'postgres' } });
    expect(job.result.text).toContain('"answer":"postgres"');
    await eventOf('question_answered', id);

    const twice = await answer(id, asked.id, 'sqlite');
    expect(twice.status).toBe(409);
    expect(twice.body.error.code).toBe('question_closed');
    expect(await questionsOf(id)).toEqual([expect.objectContaining({ id: asked.id, status: 'answered', answer: 'postgres' })]);
  });

  it('hears that nobody answered within wait_seconds, keeps its lease meanwhile, and its question closes with the job', async () => {
    // Longer than a lease: the job lives only if its lease is renewed while the tool waits.
    const waitSeconds = 3;
    expect(waitSeconds * 1000).toBeGreaterThan(Number(FAST_TIMINGS.LEASE_MS));
    const id = await askingJob({ question: 'Is anyone there?', wait_seconds: waitSeconds });
    const job = await finished(id);
    expect(job.status, JSON.stringify(job.error)).toBe('done');
    expect(await historyOf(id)).toEqual(['QUEUED', 'CLAIMED', 'RUNNING', 'DONE']);
    const { ask } = seenBy(id);
    expect(ask).toMatchObject({ isError: false, data: { status: 'open', answer: null } });
    expect(ask.data.note).toMatch(/nobody answered within 3 s/);

    const [question] = await questionsOf(id);
    expect(question).toMatchObject({ id: ask.data.question_id, status: 'closed', answer: null });
    const late = await answer(id, question.id, 'I am!');
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('question_closed');
  });

  it("closes a cancelled job's open question, and an answer to it is refused with 409", async () => {
    const id = await askingJob({ question: 'Shall I go on?', wait_seconds: 120 });
    const asked = await questionIn(id, 'open');
    const cancelled = await api.call('POST', `/api/v1/jobs/${id}/cancel`, { reason: 'not now' });
    expect(cancelled.status).toBe(200);

    const closed = await questionIn(id, 'closed');
    expect(closed).toMatchObject({ id: asked.id, answer: null });
    await eventOf('question_closed', id);
    const late = await answer(id, asked.id, 'yes');
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('question_closed');
    expect((await finished(id)).status).toBe('cancelled');
  });
});

describe('a pull-mode session asking its user', () => {
  async function pullSession() {
    const session = await connectMcp(mcpUrl(server.url), await api.token(['worker'], 'ops'));
    sessions.push(session);
    return session;
  }

  async function claimGrill(session: McpSession) {
    const [idea] = await createIdeas(env.database.db, product, 1, 'DRAFT');
    const posted = await api.call('POST', `/api/v1/ideas/${idea}/grill`, {});
    expect(posted.status).toBe(202);
    const claimed = await session.ok('wait_for_job', { kinds: ['idea_grill'], wait_seconds: 10 });
    expect(claimed.job).toMatchObject({ id: posted.body.id, status: 'running' });
    return claimed.job as { id: string; claim_epoch: number };
  }

  it('keeps the claim alive while ask_user waits, with no heartbeat, past several leases', async () => {
    const session = await pullSession();
    const job = await claimGrill(session);
    const waitSeconds = 4;
    expect(waitSeconds * 1000).toBeGreaterThan(2 * Number(PULL_LEASE_MS));

    const asked = await session.ok('ask_user', {
      job_id: job.id,
      question: 'Nobody will answer this, will they?',
      wait_seconds: waitSeconds,
    });
    expect(asked).toMatchObject({ status: 'open', answer: null });
    const row = await env.database.db
      .selectFrom('claude_jobs')
      .select(['status', 'claim_epoch'])
      .where('id', '=', job.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'RUNNING', claim_epoch: job.claim_epoch });

    const done = await session.ok('update_job_status', {
      job_id: job.id,
      claim_epoch: job.claim_epoch,
      status: 'done',
      summary: 'No questions after all.',
    });
    expect(done.job).toMatchObject({ id: job.id, status: 'done' });
    expect(await historyOf(job.id)).toEqual(['QUEUED', 'CLAIMED', 'RUNNING', 'DONE']);
  });

  it('returns status closed to a waiting ask_user when the job is cancelled', async () => {
    const session = await pullSession();
    const job = await claimGrill(session);
    const waiting = session.call('ask_user', { job_id: job.id, question: 'Wait for me?', wait_seconds: 30 }, { timeoutMs: 60_000 });
    const asked = await questionIn(job.id, 'open');
    expect((await api.call('POST', `/api/v1/jobs/${job.id}/cancel`, {})).status).toBe(200);

    const result = await waiting;
    expect(result).toMatchObject({ isError: false, data: { question_id: asked.id, status: 'closed' } });
    expect((await questionsOf(job.id))[0]).toMatchObject({ id: asked.id, status: 'closed' });
  });
});
