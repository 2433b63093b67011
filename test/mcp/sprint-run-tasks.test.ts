/**
 * Inside a sprint run, a job's token reaches the tasks of its own run and no other (SPEC "Agents
 * talk back", update_task_status). A sprint_batch run of two tasks on real API and worker
 * processes; the command agent (test/fixtures/agents/mcp-sprint-agent.mjs), running the first
 * step, moves the run's second task and tries a task of another run.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { startApiProcess } from '../helpers/api-process.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { createSprintRuns } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

const AGENT = path.join(import.meta.dirname, '..', 'fixtures', 'agents', 'mcp-sprint-agent.mjs');
const IN_JOB_TOOLS = ['ask_user', 'get_job', 'record_usage', 'report_progress', 'update_task_status'];

let env: TestEnv;
let api: ApiHarness;
let agentDir: string;
let productId: string;
let foreignTask: string;

beforeAll(async () => {
  agentDir = mkdtempSync(path.join(os.tmpdir(), 'jobfleet-mcp-sprint-'));
  env = await createTestEnv({
    AGENT: 'command',
    AGENT_COMMAND: `${JSON.stringify(process.execPath)} ${JSON.stringify(AGENT)}`,
    MCP_AGENT_DIR: agentDir,
  });
  api = await createApiHarness(env);
  productId = (await call('POST', '/api/v1/products', { name: 'Sprinter', owner_id: 'owner-a' }, 201)).id;
  // A task of another sprint and its own (queued, never started) run.
  const [foreignRun] = (await createSprintRuns(env.database.db, productId, 1, { tasks: 1 })) as [string];
  const step = await env.database.db
    .selectFrom('steps')
    .select('task_id')
    .where('sprint_run_id', '=', foreignRun)
    .executeTakeFirstOrThrow();
  foreignTask = step.task_id!;
  const server = await startApiProcess(env.env);
  const worker = spawnJobfleet(['worker', '--kinds', 'sprint_implementation'], {
    ...env.env,
    API_URL: server.url,
    FOREIGN_TASK_ID: foreignTask,
  });
  await worker.line(/jobfleet worker \S+ running/);
});
afterAll(async () => {
  await killAll();
  await api?.close();
  await env?.teardown();
  rmSync(agentDir, { recursive: true, force: true });
});

async function call(method: string, path_: string, body: unknown, expected: number) {
  const response = await api.call(method, path_, body);
  expect(response.status, `${method} ${path_}: ${JSON.stringify(response.body)}`).toBe(expected);
  return response.body;
}

/** A sprint holding one story with these two tasks (by implementation plan), in this order. */
async function sprintOfTwo(plans: [string, string]) {
  const sprint = await call('POST', '/api/v1/sprints', { product_id: productId, name: 'Sprint' }, 201);
  const pbi = await call('POST', '/api/v1/pbis', { product_id: productId, title: 'PBI' }, 201);
  const story = await call('POST', '/api/v1/stories', { pbi_id: pbi.id, title: 'Story' }, 201);
  await call('POST', `/api/v1/stories/${story.id}/transitions`, { to: 'in_sprint', sprint_id: sprint.id }, 200);
  const tasks: string[] = [];
  for (const [i, plan] of plans.entries()) {
    tasks.push((await call('POST', '/api/v1/tasks', { story_id: story.id, title: `Task ${i}`, implementation_plan: plan }, 201)).id);
  }
  return { sprintId: sprint.id as string, tasks: tasks as [string, string] };
}

const historyOf = (id: string) =>
  env.database.db
    .selectFrom('transitions')
    .select(['from_status', 'to_status', 'trigger', 'actor_token_id', 'artifacts'])
    .where('entity_id', '=', id)
    .orderBy('id')
    .execute();

describe('a sprint job token', () => {
  it("sees its run's tasks, moves the other task of its run through the door, and gets 404 for a task of another run", async () => {
    const db = env.database.db;
    const { sprintId, tasks } = await sprintOfTwo(['Lay the table. [mcp:reach]', 'Serve the soup.']);
    const [first, second] = tasks;
    const started = await call('POST', `/api/v1/sprints/${sprintId}/runs`, { mode: 'sprint_batch' }, 202);
    const runId: string = started.run.id;
    const jobId: string = started.job.id;

    const run = await waitFor(`run ${runId} to end`, async () => {
      const current = await call('GET', `/api/v1/sprint-runs/${runId}`, undefined, 200);
      return ['done', 'failed', 'cancelled'].includes(current.status) ? current : undefined;
    });
    const file = path.join(agentDir, 'reach.seen');
    expect(existsSync(file), 'the agent of the first step left no notes').toBe(true);
    const seen = JSON.parse(readFileSync(file, 'utf8'));
    expect(seen.fatal, 'the agent failed').toBeUndefined();

    // The token is the sprint job's: the in-job tools, and get_job lists the run's tasks in step order.
    expect(seen.tools).toEqual(IN_JOB_TOOLS);
    expect(seen.get_job.isError, seen.get_job.text).toBe(false);
    expect(seen.get_job.data).toMatchObject({
      job: { id: jobId, kind: 'sprint_implementation', sprint_run_id: runId },
      subject: { id: runId },
    });
    expect(seen.get_job.data.sprint_run_tasks.map((task: { id: string }) => task.id)).toEqual([first, second]);

    // The other task of its run moved, through the door: the history row names the job's
    // claiming token as actor and the job (whose run it is) as what did it.
    expect(seen.other_task, JSON.stringify(seen.other_task)).toMatchObject({
      isError: false,
      data: { task: { id: second, status: 'in_progress' } },
    });
    const job = await db
      .selectFrom('claude_jobs')
      .select(['claimed_by_token_id', 'sprint_run_id'])
      .where('id', '=', jobId)
      .executeTakeFirstOrThrow();
    expect(job.sprint_run_id).toBe(runId);
    expect(job.claimed_by_token_id).not.toBeNull();
    const moved = (await historyOf(second)).find((row) => row.trigger === 'user_starts');
    expect(moved).toMatchObject({
      from_status: 'TO_DO',
      to_status: 'IN_PROGRESS',
      actor_token_id: job.claimed_by_token_id,
      artifacts: { job_id: jobId },
    });

    // A task of another run is as good as missing, and nothing of it was written.
    expect(seen.foreign_task.isError, JSON.stringify(seen.foreign_task)).toBe(true);
    expect(seen.foreign_task.data.error).toMatchObject({ status: 404, code: 'not_found' });
    const foreign = await db.selectFrom('tasks').select('status').where('id', '=', foreignTask).executeTakeFirstOrThrow();
    expect(foreign.status).toBe('TO_DO');
    expect((await historyOf(foreignTask)).map((row) => row.to_status)).toEqual(['TO_DO']);

    // The run carried on past the move: the second step found its task started and finished it.
    expect(run.status, JSON.stringify(run)).toBe('done');
    expect((await call('GET', `/api/v1/tasks/${second}`, undefined, 200)).status).toBe('done');
  });
});
