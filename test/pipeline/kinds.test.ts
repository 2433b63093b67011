/**
 * What each kind does with its subject, end to end through a real worker pool and the dry-run
 * agent (scripted through markers in the data it reads).
 */
import { Queue } from 'bullmq';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Db } from '../../src/db/database.js';
import { createDryRunExecutor } from '../../src/executors/dry-run.executor.js';
import { JOB_KINDS } from '../../src/queues/kinds.js';
import { startWorkerPool, type WorkerPool } from '../../src/workers/worker-pool.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { createDryRunGate } from '../helpers/dry-run-gate.js';
import { createIdeas, createProduct, createSprintRuns, createTasks } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

let env: TestEnv;
let api: ApiHarness;
let pool: WorkerPool;
let db: Db;
let product: string;
beforeAll(async () => {
  env = await createTestEnv({ AGENT_TIMEOUT_MS: '1000' });
  api = await createApiHarness(env);
  db = env.database.db;
  product = await createProduct(db);
  pool = await startWorkerPool({
    config: env.config,
    db,
    logger: env.logger,
    executor: createDryRunExecutor(),
    kinds: JOB_KINDS,
    concurrency: 5,
    version: 'test',
  });
});
afterAll(async () => {
  await pool.close(5_000);
  await api.close();
  await env.teardown();
});

async function run(job: object) {
  const posted = await api.call('POST', '/api/v1/jobs', job);
  expect(posted.status).toBe(202);
  return waitFor(`job ${posted.body.id} to finish`, async () => {
    const { body } = await api.call('GET', `/api/v1/jobs/${posted.body.id}`);
    return ['done', 'failed', 'cancelled'].includes(body.status) ? body : undefined;
  });
}

const ideaRow = (id: string) => db.selectFrom('ideas').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const logsOf = (id: string) => db.selectFrom('idea_logs').selectAll().where('idea_id', '=', id).orderBy('created_at').execute();

describe('IDEA_GRILL', () => {
  it("writes the agent's questions into grill_md and the idea log, and the idea is grilled", async () => {
    const [idea] = await createIdeas(db, product, 1, 'DRAFT');
    const job = await run({ kind: 'idea_grill', idea_id: idea });
    expect(job.status).toBe('done');
    const row = await ideaRow(idea!);
    expect(row.status).toBe('GRILLED');
    expect(row.grill_md).toContain('[dry run] Grill of "Idea 0"');
    expect((await logsOf(idea!)).map((log) => log.type)).toEqual(['GRILL_RESULT']);
  });
});

describe('IDEA_MAKE_PLAN', () => {
  it('keeps a plan that parses as plan_md, and the idea is plan_ready', async () => {
    const [idea] = await createIdeas(db, product, 1, 'GRILLED');
    const job = await run({ kind: 'idea_make_plan', idea_id: idea });
    expect(job.status).toBe('done');
    const row = await ideaRow(idea!);
    expect(row).toMatchObject({ status: 'PLAN_READY', plan_errors: null });
    expect(row.plan_md).toContain('pbis:');
  });

  it('fails a plan that does not parse, logs its errors, keeps it on the idea, and a retry can succeed', async () => {
    const [idea] = await createIdeas(db, product, 1, 'GRILLED', 'Plan this badly [dry-run:invalid-plan]');
    const job = await run({ kind: 'idea_make_plan', idea_id: idea });
    expect(job).toMatchObject({ status: 'failed', error: { code: 'plan_invalid' } });
    expect(job.error.details.errors).toEqual(['pbis[0].stories: stories must be a list']);

    const failed = await ideaRow(idea!);
    expect(failed.status).toBe('PLAN_FAILED');
    expect(failed.plan_errors).toEqual(['pbis[0].stories: stories must be a list']);
    expect(failed.plan_md).toContain('A PBI without stories');
    const logs = await logsOf(idea!);
    expect(logs.map((log) => log.type)).toEqual(['JOB_EVENT']);
    expect(logs[0]!.content).toContain('pbis[0].stories: stories must be a list');
    const history = await db
      .selectFrom('transitions')
      .select(['to_status', 'trigger'])
      .where('entity_id', '=', idea!)
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow();
    expect(history).toEqual({ to_status: 'PLAN_FAILED', trigger: 'plan_rejected' });

    await db.updateTable('ideas').set({ prompt_text: 'Plan this well.' }).where('id', '=', idea!).execute();
    const retry = await run({ kind: 'idea_make_plan', idea_id: idea });
    expect(retry.status).toBe('done');
    expect(await ideaRow(idea!)).toMatchObject({ status: 'PLAN_READY', plan_errors: null });
  });
});

describe('PLAN_CHAT', () => {
  it("logs the author's message when it is sent and the agent's reply when it is done", async () => {
    const [idea] = await createIdeas(db, product, 1, 'PLAN_READY');
    const job = await run({ kind: 'plan_chat', idea_id: idea, payload: { message: 'Can the export wait?' } });
    expect(job.status).toBe('done');
    const logs = await logsOf(idea!);
    expect(logs.map((log) => [log.type, log.job_id])).toEqual([
      ['CHAT_MESSAGE', job.id],
      ['CHAT_REPLY', job.id],
    ]);
    expect(logs[0]!.content).toBe('Can the export wait?');
    expect(logs[1]!.content).toContain('[dry run]');
    // The log's data is stored as JSON, not as a string of it.
    expect(logs.map((log) => log.data)).toEqual([null, { agent: 'dry-run' }]);
  });
});

describe('TASK_IMPLEMENTATION', () => {
  it('moves its task to review when the agent is done', async () => {
    const [task] = await createTasks(db, product, 1);
    expect((await run({ kind: 'task_implementation', task_id: task })).status).toBe('done');
    expect((await db.selectFrom('tasks').select('status').where('id', '=', task!).executeTakeFirstOrThrow()).status).toBe('REVIEW');
  });

  it("fails its task and the task's story when the agent fails", async () => {
    const [task] = await createTasks(db, product, 1, { plan: 'This cannot work [dry-run:fail]' });
    const job = await run({ kind: 'task_implementation', task_id: task });
    expect(job).toMatchObject({ status: 'failed', error: { code: 'agent_failed' } });
    const row = await db
      .selectFrom('tasks')
      .innerJoin('stories', 'stories.id', 'tasks.story_id')
      .select(['tasks.status as task', 'stories.status as story'])
      .where('tasks.id', '=', task!)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ task: 'FAILED', story: 'FAILED' });
  });

  it('fails a job whose agent outlives AGENT_TIMEOUT_MS with code timeout', async () => {
    // A gate never opened: the agent runs until the timeout stops it.
    const [task] = await createTasks(db, product, 1, { plan: `Slow ${createDryRunGate().marker}` });
    const job = await run({ kind: 'task_implementation', task_id: task });
    expect(job).toMatchObject({ status: 'failed', error: { code: 'timeout' } });
  });
});

describe('SPRINT_IMPLEMENTATION', () => {
  it('runs the steps in order, completes their tasks, and the run is done with its result', async () => {
    const [runId] = await createSprintRuns(db, product, 1, { tasks: 3 });
    const job = await run({ kind: 'sprint_implementation', sprint_run_id: runId });
    expect(job.status).toBe('done');
    const runRow = await db.selectFrom('sprint_runs').selectAll().where('id', '=', runId!).executeTakeFirstOrThrow();
    expect(runRow).toMatchObject({ status: 'DONE', result: { success: true, steps_completed: 3, steps_total: 3 } });
    const steps = await db
      .selectFrom('steps')
      .select(['status', 'task_id', 'started_at'])
      .where('sprint_run_id', '=', runId!)
      .orderBy('position')
      .execute();
    expect(steps.map((step) => step.status)).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED']);
    for (let i = 1; i < steps.length; i += 1)
      expect(steps[i]!.started_at!.getTime()).toBeGreaterThanOrEqual(steps[i - 1]!.started_at!.getTime());
    const tasks = await db
      .selectFrom('tasks')
      .select('status')
      .where(
        'id',
        'in',
        steps.map((step) => step.task_id!),
      )
      .execute();
    expect(tasks.map((task) => task.status)).toEqual(['DONE', 'DONE', 'DONE']);
  });

  it("adds each step a per-task run dispatches to its queue only once the step's job row is committed", async () => {
    const [runId] = await createSprintRuns(db, product, 1, { tasks: 3 });
    await db.updateTable('sprint_runs').set({ mode: 'PER_TASK' }).where('id', '=', runId!).execute();
    // A chain: each step waits for the one before, so every later step is dispatched by a completion.
    await sql`
      INSERT INTO task_dependencies (task_id, depends_on_task_id)
      SELECT s.task_id, p.task_id FROM steps s JOIN steps p ON p.sprint_run_id = s.sprint_run_id AND p.position = s.position - 1
      WHERE s.sprint_run_id = ${runId}
    `.execute(db);
    // At each add, another connection looks for the rows: an add before its commit would not find them.
    const adds: { id: string; committed: boolean }[] = [];
    const addBulk = Queue.prototype.addBulk;
    vi.spyOn(Queue.prototype, 'addBulk').mockImplementation(async function (this: Queue, jobs) {
      const ids = jobs.map((job) => (job.data as { id: string }).id);
      const found = new Set((await db.selectFrom('claude_jobs').select('id').where('id', 'in', ids).execute()).map((row) => row.id));
      for (const id of ids) adds.push({ id, committed: found.has(id) });
      return addBulk.call(this, jobs);
    });
    try {
      expect((await run({ kind: 'sprint_implementation', sprint_run_id: runId })).status).toBe('done');
      await waitFor(
        'the run to be done',
        async () =>
          (await db.selectFrom('sprint_runs').select('status').where('id', '=', runId!).executeTakeFirstOrThrow()).status === 'DONE',
      );
    } finally {
      vi.restoreAllMocks();
    }
    const stepJobs = await db.selectFrom('steps').select('job_id').where('sprint_run_id', '=', runId!).orderBy('position').execute();
    expect(stepJobs.every((step) => adds.some((add) => add.id === step.job_id))).toBe(true);
    expect(adds.filter((add) => !add.committed)).toEqual([]);
  });

  it('stops at a failed step: the run fails, later steps are skipped, the sprint is blocked', async () => {
    const [runId] = await createSprintRuns(db, product, 1, { tasks: 3 });
    const steps = await db.selectFrom('steps').select(['id', 'task_id']).where('sprint_run_id', '=', runId!).orderBy('position').execute();
    await db.updateTable('tasks').set({ implementation_plan: 'Doomed [dry-run:fail]' }).where('id', '=', steps[1]!.task_id!).execute();
    await run({ kind: 'sprint_implementation', sprint_run_id: runId });
    const after = await db.selectFrom('steps').select('status').where('sprint_run_id', '=', runId!).orderBy('position').execute();
    expect(after.map((step) => step.status)).toEqual(['COMPLETED', 'FAILED', 'SKIPPED']);
    const runRow = await db
      .selectFrom('sprint_runs')
      .innerJoin('sprints', 'sprints.id', 'sprint_runs.sprint_id')
      .select(['sprint_runs.status as run', 'sprints.status as sprint'])
      .where('sprint_runs.id', '=', runId!)
      .executeTakeFirstOrThrow();
    expect(runRow).toEqual({ run: 'FAILED', sprint: 'FAILED' });
  });
});
