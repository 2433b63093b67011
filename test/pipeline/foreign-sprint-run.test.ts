/**
 * A task job may name the sprint run it works for. Another owner's run is refused like any
 * foreign id (404, nothing revealed), a run of another sprint is refused with the field named,
 * and a job that slipped in anyway fails once in the worker instead of being retried for ever.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDryRunExecutor } from '../../src/executors/dry-run.executor.js';
import { MACHINES } from '../../src/machines/index.js';
import { bullJobId } from '../../src/queues/job-queues.js';
import { createEntities, transitionMany } from '../../src/transitions/index.js';
import { startWorkerPool } from '../../src/workers/worker-pool.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { rowCounts } from '../helpers/fixtures.js';
import { createProduct, createSprintRuns, createTasks } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

let env: TestEnv;
let api: ApiHarness;
let ownerB: { authorization: string };
let runOfA: string;
let taskOfB: string;
beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  const db = env.database.db;
  runOfA = (await createSprintRuns(db, await createProduct(db, 'owner-a'), 1))[0]!;
  // A running run is where the harm was: the job's start tries to move B's task inside it.
  await db
    .transaction()
    .execute((trx) =>
      transitionMany(trx, MACHINES.SPRINT_RUN, [
        { id: runOfA, from: 'QUEUED' as const, to: 'RUNNING' as const, trigger: 'worker_started' },
      ]),
    );
  taskOfB = (await createTasks(db, await createProduct(db, 'owner-b'), 1))[0]!;
  ownerB = { authorization: `Bearer ${await api.token(['read', 'write', 'enqueue'], 'owner-b')}` };
});
afterAll(async () => {
  await api.close();
  await env.teardown();
});

describe('a task job naming a sprint run', () => {
  it("answers 404 for another owner's sprint run, exactly as for an id that does not exist, and creates no job", async () => {
    const before = await rowCounts(env.database.db);
    const foreign = await api.call(
      'POST',
      '/api/v1/jobs',
      { kind: 'task_implementation', task_id: taskOfB, sprint_run_id: runOfA },
      ownerB,
    );
    const unknown = await api.call(
      'POST',
      '/api/v1/jobs',
      { kind: 'task_implementation', task_id: taskOfB, sprint_run_id: crypto.randomUUID() },
      ownerB,
    );

    expect(foreign.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(foreign.body.error.message).toBe(`sprint run ${runOfA} does not exist`);
    expect(foreign.body.error.code).toBe(unknown.body.error.code);
    const batch = await api.call(
      'POST',
      '/api/v1/jobs/batch',
      { jobs: [{ kind: 'task_implementation', task_id: taskOfB, sprint_run_id: runOfA }] },
      ownerB,
    );
    expect(batch.status).toBe(404);
    expect(await rowCounts(env.database.db)).toEqual(before);
  });

  it("answers 422 naming sprint_run_id when the task is not in the sprint of the caller's own run", async () => {
    const db = env.database.db;
    const product = await createProduct(db, 'owner-b', 'B again');
    const [runOfB] = await createSprintRuns(db, product, 1);
    const [looseTask] = await createTasks(db, product, 1);

    const answer = await api.call(
      'POST',
      '/api/v1/jobs',
      { kind: 'task_implementation', task_id: looseTask, sprint_run_id: runOfB },
      ownerB,
    );
    expect(answer.status).toBe(422);
    expect(answer.body.error.details.issues).toEqual([
      { path: 'sprint_run_id', message: `task ${looseTask} is not in the sprint of sprint run ${runOfB}` },
    ]);
  });

  it('fails a job whose run check can never pass after exactly one attempt, in Postgres and in its queue', async () => {
    const db = env.database.db;
    const productOfB = (await db.selectFrom('products').select('id').where('owner_id', '=', 'owner-b').executeTakeFirstOrThrow()).id;
    // Written directly, as a job that predates the enqueue check would be.
    const [created] = await db.transaction().execute((trx) =>
      createEntities(trx, MACHINES.CLAUDE_JOB, [
        {
          kind: 'TASK_IMPLEMENTATION',
          task_id: taskOfB,
          sprint_run_id: runOfA,
          product_id: productOfB,
          owner_id: 'owner-b',
          payload: '{}',
        },
      ]),
    );
    const job = created!.row;
    await api.queues.add([job]);

    const pool = await startWorkerPool({
      config: env.config,
      db,
      logger: env.logger,
      executor: createDryRunExecutor(),
      kinds: ['TASK_IMPLEMENTATION'],
      concurrency: 2,
      version: 'test',
    });
    try {
      const failed = await waitFor('the job to fail', async () => {
        const row = await db.selectFrom('claude_jobs').selectAll().where('id', '=', job.id).executeTakeFirstOrThrow();
        return row.status === 'FAILED' ? row : undefined;
      });
      expect(failed.attempt_count).toBe(1);
      expect(failed.error).toMatchObject({ code: 'unrunnable' });
      const delivery = await waitFor('the delivery to fail', async () => {
        const found = await api.queues.queue('TASK_IMPLEMENTATION').getJob(bullJobId(job));
        return found && (await found.getState()) === 'failed' ? found : undefined;
      });
      expect(delivery.attemptsMade).toBe(1);
      expect((await db.selectFrom('tasks').select('status').where('id', '=', taskOfB).executeTakeFirstOrThrow()).status).toBe('TO_DO');
    } finally {
      await pool.close(5_000);
    }
  });
});
