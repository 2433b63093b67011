/**
 * What a token sees on /mcp, against a real API process: the tools of its scopes (exactly those),
 * a refusal at connect for a token that sees none or is not one, and errors that say what was
 * wrong for an unknown tool or arguments of the wrong type, after which the server still answers.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { startApiProcess, type ApiProcess } from '../helpers/api-process.js';
import { connectMcp, mcpUrl, type McpSession, type Refusal, refusalOf } from '../helpers/mcp-client.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { createIdeas, createProduct, createTasks } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

const HOLD = path.join(import.meta.dirname, '..', 'fixtures', 'agents', 'mcp-hold.mjs');
/** The in-job tools every job token sees (a task job: no grill or plan tool). */
const IN_JOB_TOOLS = ['ask_user', 'get_job', 'record_usage', 'report_progress', 'update_task_status'];
/** What a worker token sees: pull mode (wait_for_job, job_heartbeat, update_job_status), and every in-job tool. */
const WORKER_TOOLS = [
  ...IN_JOB_TOOLS,
  'job_heartbeat',
  'update_idea_grill_md',
  'update_idea_plan_md',
  'update_job_status',
  'wait_for_job',
].sort();

let env: TestEnv;
let api: ApiHarness;
let server: ApiProcess;
let agentDir: string;
const sessions: McpSession[] = [];

beforeAll(async () => {
  agentDir = mkdtempSync(path.join(os.tmpdir(), 'jobfleet-mcp-scopes-'));
  env = await createTestEnv({
    AGENT: 'command',
    AGENT_COMMAND: `${JSON.stringify(process.execPath)} ${JSON.stringify(HOLD)}`,
    MCP_AGENT_DIR: agentDir,
  });
  api = await createApiHarness(env);
  server = await startApiProcess(env.env);
  // Implementation jobs only: the chats enqueued below stay queued.
  const worker = spawnJobfleet(['worker', '--kinds', 'task_implementation'], { ...env.env, API_URL: server.url });
  await worker.line(/jobfleet worker \S+ running/);
});
afterAll(async () => {
  for (const session of sessions) await session.close().catch(() => undefined);
  await killAll();
  await api?.close();
  await env?.teardown();
  rmSync(agentDir, { recursive: true, force: true });
});

async function session(token: string): Promise<McpSession> {
  const connected = await connectMcp(mcpUrl(server.url), token);
  sessions.push(connected);
  return connected;
}

async function queuedChat(owner: string): Promise<string> {
  const [idea] = await createIdeas(env.database.db, await createProduct(env.database.db, owner), 1, 'PLAN_READY');
  const posted = await api.call('POST', '/api/v1/jobs', { kind: 'plan_chat', idea_id: idea, payload: { message: 'Any news?' } });
  expect(posted.status).toBe(202);
  return posted.body.id;
}

const required = (tool: { inputSchema: { required?: string[] } }) => tool.inputSchema.required ?? [];

/** An error the client can read: never a server error. */
function expectClientError(refusal: Refusal) {
  expect(refusal.message).not.toBe('');
  expect(refusal.status === null || refusal.status < 500, JSON.stringify(refusal)).toBe(true);
}

describe('tools by scope', () => {
  it('shows admin and worker tokens the pull-mode tools and every in-job tool, each naming its job', async () => {
    for (const token of [api.adminSecret, await api.token(['worker'], 'ops')]) {
      const tools = await (await session(token)).listTools();
      expect(tools.map((tool) => tool.name).sort()).toEqual(WORKER_TOOLS);
      // Every tool but wait_for_job acts on a job the token holds, which it must name.
      for (const tool of tools.filter((t) => t.name !== 'wait_for_job')) expect(required(tool), tool.name).toContain('job_id');
    }
  });

  it("shows a read token get_job alone, and it reads its owner's jobs only", async () => {
    const own = await queuedChat('owner-a');
    const foreign = await queuedChat('owner-b');
    const reader = await session(await api.token(['read'], 'owner-a'));
    const tools = await reader.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(['get_job']);
    expect(required(tools[0]!)).toContain('job_id');

    const got = await reader.ok('get_job', { job_id: own });
    expect(got.job).toMatchObject({ id: own, kind: 'plan_chat', status: 'queued' });
    const refused = await reader.refused('get_job', { job_id: foreign });
    expect(refused).toMatchObject({ status: 404, code: 'not_found' });
  });

  it('shows a job token the in-job tools of its kind, none needing a job_id, acting on its own job', async () => {
    const db = env.database.db;
    const [task] = await createTasks(db, await createProduct(db), 1);
    const posted = await api.call('POST', '/api/v1/jobs', { kind: 'task_implementation', task_id: task });
    expect(posted.status).toBe(202);
    const id: string = posted.body.id;
    const tokenFile = path.join(agentDir, `${id}.token`);
    const token = await waitFor(
      'the agent to write its token',
      () => (existsSync(tokenFile) && readFileSync(tokenFile, 'utf8')) || undefined,
    );
    expect(token).toMatch(/^jfj_/);

    const agent = await session(token);
    const tools = await agent.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(IN_JOB_TOOLS);
    for (const tool of tools) expect(required(tool), tool.name).not.toContain('job_id');
    const got = await agent.ok('get_job', {});
    expect(got.job).toMatchObject({ id, kind: 'task_implementation', status: 'running', task_id: task });
    expect(got.subject).toMatchObject({ id: task, status: 'in_progress' });

    writeFileSync(path.join(agentDir, `${id}.release`), '');
    await waitFor(`job ${id} to be done`, async () => (await api.call('GET', `/api/v1/jobs/${id}`)).body.status === 'done');
  });

  it('refuses at connect no token and an unknown one with 401, and a token whose scopes see no tool with 403', async () => {
    const url = mcpUrl(server.url);
    for (const token of [null, 'not-a-token', `jfj_${Buffer.alloc(20).toString('base64url')}.forged`]) {
      const refused = await refusalOf(() => connectMcp(url, token));
      expect(refused.status, String(token)).toBe(401);
      expect(refused.message).not.toBe('');
    }
    const noTools = await refusalOf(async () => connectMcp(url, await api.token(['write', 'enqueue'], 'owner-a')));
    expect(noTools.status).toBe(403);
    expect(noTools.message).not.toBe('');
  });
});

describe('bad calls', () => {
  it('answers an unknown tool and arguments of the wrong type with an error saying what was wrong, and keeps serving', async () => {
    const admin = await session(api.adminSecret);
    const job = await queuedChat('owner-a');

    const unknown = await admin.refused('no_such_tool', {});
    expectClientError(unknown);
    expect(unknown.message).toContain('no_such_tool');

    const wrongTypes = await admin.refused('report_progress', { job_id: job, message: 42, percent: 'lots' });
    expectClientError(wrongTypes);
    expect(wrongTypes.message).toMatch(/percent/);
    const wrongWait = await admin.refused('wait_for_job', { wait_seconds: 'soon' });
    expectClientError(wrongWait);
    expect(wrongWait.message).toMatch(/wait_seconds/);
    const tooLong = await admin.refused('ask_user', { job_id: randomUUID(), question: 'Why?', wait_seconds: 601 });
    expectClientError(tooLong);
    expect(tooLong.message).toMatch(/wait_seconds/);
    const notAJob = await admin.refused('get_job', { job_id: 'not-a-uuid' });
    expectClientError(notAJob);

    // Nothing was written, and the server answers as before, on this session and a new one.
    const row = await env.database.db
      .selectFrom('claude_jobs')
      .select(['status', 'progress'])
      .where('id', '=', job)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'QUEUED', progress: null });
    expect((await admin.listTools()).map((tool) => tool.name).sort()).toEqual(WORKER_TOOLS);
    expect((await (await session(api.adminSecret)).ok('get_job', { job_id: job })).job.id).toBe(job);
    expect(server.process.child.exitCode).toBeNull();
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});
