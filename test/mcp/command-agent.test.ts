/**
 * A command agent talking back while its job runs (SPEC "Agents talk back"), against real API and
 * worker processes: the worker hands the agent JOBFLEET_MCP_CONFIG, the agent (a script using the
 * MCP SDK's client, test/fixtures/agents/mcp-agent.mjs) calls the in-job tools with its job
 * token, and the test checks what they wrote. Usage an agent records adds to what it reports at
 * the end: the job's totals are the record_usage sums plus the usage of its printed answer.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullJobId } from '../../src/queues/job-queues.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { startApiProcess, type ApiProcess } from '../helpers/api-process.js';
import { type EventClient, sseClient } from '../helpers/event-clients.js';
import { connectMcp, mcpUrl, refusalOf } from '../helpers/mcp-client.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { createIdeas, createProduct, createTasks } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { finished as finishedJob, seenBy as agentNotes } from '../helpers/mcp-agents.js';

const AGENT = path.join(import.meta.dirname, '..', 'fixtures', 'agents', 'mcp-agent.mjs');
const GRILL_MD = '# Grill\n\n1. Who downloads the CSV? Assumption: analysts.\n';
/** What every agent job's token sees: no job_id arguments, no pull-mode tools. */
const IN_JOB_TOOLS = ['ask_user', 'get_job', 'record_usage', 'report_progress', 'update_task_status'];
/** The usage the fixture prints with its answer, on top of what it records. */
const PRINTED = { input_tokens: 100, output_tokens: 10, cost_usd: 0.01 };

let env: TestEnv;
let api: ApiHarness;
let server: ApiProcess;
let agentDir: string;
let product: string;
let foreignTask: string;
let events: EventClient;

beforeAll(async () => {
  agentDir = mkdtempSync(path.join(os.tmpdir(), 'jobfleet-mcp-agent-'));
  env = await createTestEnv({
    AGENT: 'command',
    AGENT_COMMAND: `${JSON.stringify(process.execPath)} ${JSON.stringify(AGENT)}`,
    MCP_AGENT_DIR: agentDir,
    GRILL_MD,
  });
  api = await createApiHarness(env);
  const db = env.database.db;
  product = await createProduct(db);
  [foreignTask] = (await createTasks(db, product, 1, { plan: 'Somebody else is on this.' })) as [string];
  server = await startApiProcess(env.env);
  events = sseClient(`${server.url}/api/v1/events`, { authorization: `Bearer ${api.adminSecret}` });
  await events.connected;
  const worker = spawnJobfleet(['worker', '--kinds', 'idea_grill,task_implementation'], {
    ...env.env,
    API_URL: server.url,
    FOREIGN_TASK_ID: foreignTask,
  });
  await worker.line(/jobfleet worker \S+ running/);
});
afterAll(async () => {
  events?.close();
  await killAll();
  await api?.close();
  await env?.teardown();
  rmSync(agentDir, { recursive: true, force: true });
});

const finished = (id: string) => finishedJob(api, id);

/** What the agent noted about its calls (test/fixtures/agents/mcp-*.mjs). */
const seenBy = (jobId: string) => agentNotes(agentDir, jobId);

describe('a command agent in an implementation job', () => {
  it('reads its job, reports progress, records usage once per id, moves its own task and no other', async () => {
    const db = env.database.db;
    const [task] = (await createTasks(db, product, 1, { plan: 'Add the CSV button.' })) as [string];
    const posted = await api.call('POST', '/api/v1/jobs', { kind: 'task_implementation', task_id: task });
    expect(posted.status).toBe(202);
    const job = await finished(posted.body.id);
    expect(job.status, JSON.stringify(job.error)).toBe('done');
    const seen = seenBy(job.id);

    // What the worker gave it: the URL from API_URL, its token, and a config an agent CLI loads.
    expect(seen.env.url).toBe(mcpUrl(server.url));
    expect(seen.env.token).toMatch(/^jfj_/);
    expect(seen.server).toEqual({ type: 'http', url: mcpUrl(server.url), headers: { Authorization: `Bearer ${seen.env.token}` } });
    expect(seen.tools).toEqual(IN_JOB_TOOLS);

    expect(seen.get_job.isError).toBe(false);
    expect(seen.get_job.data).toMatchObject({
      job: { id: job.id, kind: 'task_implementation', status: 'running', task_id: task },
      subject: { id: task, status: 'in_progress' },
    });
    expect(seen.get_job.data.prompt.user).toContain('Add the CSV button.');
    expect(seen.progress).toMatchObject({ isError: false, data: { ok: true } });

    // One id recorded twice counts once.
    expect(seen.usage.map((call: any) => call.isError)).toEqual([false, false, false]);
    const [first, again, second] = seen.usage.map((call: any) => call.data);
    expect(first).toMatchObject({ recorded: true, totals: { input_tokens: 1000, output_tokens: 200 } });
    expect(again).toMatchObject({ recorded: false, totals: { input_tokens: 1000, output_tokens: 200 } });
    expect(second).toMatchObject({ recorded: true, totals: { input_tokens: 1030, output_tokens: 207 } });
    expect(first.totals.cost_usd).toBeCloseTo(0.25, 6);
    expect(again.totals.cost_usd).toBeCloseTo(0.25, 6);
    expect(second.totals.cost_usd).toBeCloseTo(0.3, 6);

    expect(seen.own_task).toMatchObject({ isError: false, data: { task: { id: task, status: 'review' } } });
    expect(seen.foreign_task.isError, JSON.stringify(seen.foreign_task)).toBe(true);
    expect([403, 404]).toContain(seen.foreign_task.data.error.status);
    expect(seen.foreign_task.data.error.message).not.toBe('');

    // The job: usage recorded plus usage printed, and the progress it reported.
    expect(job.usage.input_tokens).toBe(1030 + PRINTED.input_tokens);
    expect(job.usage.output_tokens).toBe(207 + PRINTED.output_tokens);
    expect(job.usage.cost_usd).toBeCloseTo(0.3 + PRINTED.cost_usd, 6);
    expect(job.progress).toMatchObject({ message: 'halfway there', percent: 50 });
    expect(typeof job.progress.at).toBe('string');
    const logs = await api.queues.queue('TASK_IMPLEMENTATION').getJobLogs(bullJobId({ id: job.id, requeue_count: 0 }));
    expect(logs.logs).toContain('progress: 50% halfway there');
    await events.waitFor('a live progress event of the job', (received) =>
      received.some((event) => event.type === 'progress' && JSON.stringify(event.data).includes(job.id)),
    );

    // Its task went to review through the door (the finished job left it there); the foreign one never moved.
    const taskHistory = await db.selectFrom('transitions').select('to_status').where('entity_id', '=', task).orderBy('id').execute();
    expect(taskHistory.map((row) => row.to_status)).toEqual(['TO_DO', 'IN_PROGRESS', 'REVIEW']);
    const foreign = await db.selectFrom('tasks').select('status').where('id', '=', foreignTask).executeTakeFirstOrThrow();
    expect(foreign.status).toBe('TO_DO');
    const foreignHistory = await db.selectFrom('transitions').select('to_status').where('entity_id', '=', foreignTask).execute();
    expect(foreignHistory.map((row) => row.to_status)).toEqual(['TO_DO']);

    // The job ended, and its token with it.
    const late = await refusalOf(async () => {
      const session = await connectMcp(mcpUrl(server.url), seen.env.token);
      try {
        return await session.call('get_job', {});
      } finally {
        await session.close();
      }
    });
    expect(late).toMatchObject({ status: 401, code: 'job_token_expired' });
    expect(late.message).not.toBe('');
  });
});

describe('a command agent in a grill job', () => {
  it("sees the grill tool, and what it writes with it is the idea's grill when the job is done", async () => {
    const db = env.database.db;
    const [idea] = (await createIdeas(db, product, 1, 'DRAFT')) as [string];
    const posted = await api.call('POST', `/api/v1/ideas/${idea}/grill`, {});
    expect(posted.status).toBe(202);
    const job = await finished(posted.body.id);
    expect(job.status, JSON.stringify(job.error)).toBe('done');
    const seen = seenBy(job.id);

    expect(seen.tools).toEqual([...IN_JOB_TOOLS, 'update_idea_grill_md'].sort());
    expect(seen.get_job.data).toMatchObject({ job: { id: job.id, kind: 'idea_grill', idea_id: idea }, subject: { id: idea } });
    expect(seen.grill_md.isError, JSON.stringify(seen.grill_md)).toBe(false);
    // The agent printed something else: what it wrote through the tool is its answer.
    const row = await db.selectFrom('ideas').select(['status', 'grill_md']).where('id', '=', idea).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'GRILLED', grill_md: GRILL_MD });
    expect(job.usage.input_tokens).toBe(1030 + PRINTED.input_tokens);
  });
});
