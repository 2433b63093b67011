/**
 * Worker processes that stall, die or are told to stop: real OS processes, real signals. Nothing
 * may be left CLAIMED or RUNNING, and no job may be lost.
 */
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { createDryRunGate, removeDryRunGates } from '../helpers/dry-run-gate.js';
import { killAll, spawnFixture, spawnJobfleet } from '../helpers/processes.js';
import { createIdeas, createProduct, createSprintRuns, createTasks } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

let env: TestEnv;
let api: ApiHarness;
let db: Db;
let product: string;
beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  db = env.database.db;
  product = await createProduct(db);
});
afterEach(async () => {
  await killAll();
  removeDryRunGates();
});
afterAll(async () => {
  await api.close();
  await env.teardown();
});

async function enqueue(jobs: object[]): Promise<{ id: string; kind: string }[]> {
  const response = await api.call('POST', '/api/v1/jobs/batch', { jobs });
  expect(response.status).toBe(202);
  return response.body.jobs;
}

async function statuses(ids: string[]) {
  const rows = await db.selectFrom('claude_jobs').select(['id', 'status']).where('id', 'in', ids).execute();
  return rows.map((row) => row.status);
}

/** Jobs (these, or retries of these) still CLAIMED or RUNNING. */
async function heldJobs(ids: string[]) {
  return db
    .selectFrom('claude_jobs')
    .select(['id', 'status'])
    .where((eb) => eb.or([eb('id', 'in', ids), eb('retry_of_job_id', 'in', ids)]))
    .where('status', 'in', ['CLAIMED', 'RUNNING'])
    .execute();
}

async function startWorker(extra: Record<string, string> = {}, args: string[] = []) {
  const worker = spawnJobfleet(['worker', '--concurrency', '20', ...args], { ...env.env, ...extra });
  const [, id] = await worker.line(/jobfleet worker (\S+) running/);
  return Object.assign(worker, { id: id! });
}

describe('a stale claim', () => {
  it("goes back to the queue, another worker finishes the job, and the stalled worker's late write is refused", async () => {
    const [idea] = await createIdeas(db, product, 1, 'DRAFT');
    const [job] = await enqueue([{ kind: 'idea_grill', idea_id: idea }]);

    const stalled = spawnFixture('stalling-worker.ts', { DATABASE_URL: env.database.url, JOB_ID: job!.id });
    const claimed = JSON.parse((await stalled.line(/^\{"claimed".*$/m))[0]) as { epoch: number };
    expect(claimed.epoch).toBe(1);
    stalled.kill('SIGSTOP');

    await startWorker();
    const sweeper = spawnJobfleet(['sweeper'], { ...env.env, STALE_CLAIM_MS: '1000' });
    await sweeper.line(/sweeper running/);

    const done = await waitFor('another worker to finish the job', async () => {
      const row = await db.selectFrom('claude_jobs').selectAll().where('id', '=', job!.id).executeTakeFirstOrThrow();
      return row.status === 'DONE' ? row : undefined;
    });
    expect(done).toMatchObject({ claim_epoch: 2, requeue_count: 1, attempt_count: 2 });

    stalled.kill('SIGCONT');
    stalled.send('go');
    const late = JSON.parse((await stalled.line(/^\{"started".*$/m))[0]) as { started: number; refusal: { code: string; status: number } };
    expect(late).toEqual({ started: 0, refusal: { code: 'stale_claim', status: 409 } });

    const history = await db
      .selectFrom('transitions')
      .select(['from_status', 'to_status', 'trigger'])
      .where('entity_id', '=', job!.id)
      .orderBy('id')
      .execute();
    expect(history.map((h) => `${h.from_status ?? '*'}>${h.to_status}:${h.trigger}`)).toEqual([
      '*>QUEUED:created',
      'QUEUED>CLAIMED:claimed',
      'CLAIMED>QUEUED:stale_claim',
      'QUEUED>CLAIMED:claimed',
      'CLAIMED>RUNNING:started',
      'RUNNING>DONE:agent_done',
    ]);
    expect((await db.selectFrom('ideas').select('status').where('id', '=', idea!).executeTakeFirstOrThrow()).status).toBe('GRILLED');
  });
});

/** Holds a lock on a job's row, as a slow claim's neighbour would, until the returned release runs. */
async function lockJobRow(id: string): Promise<() => Promise<void>> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const holding = new Promise<void>((resolve) => (locked = resolve));
  const transaction = db.transaction().execute(async (trx) => {
    await sql`SELECT id FROM claude_jobs WHERE id = ${id} FOR UPDATE`.execute(trx);
    locked();
    await released;
  });
  await Promise.race([holding, transaction]);
  return async () => {
    release();
    await transaction;
  };
}

describe('a worker killed before its claim commits', () => {
  it('leaves a delivery that another worker takes within about one lease: the job runs once and is done', async () => {
    const [idea] = await createIdeas(db, product, 1, 'DRAFT');
    const [job] = await enqueue([{ kind: 'idea_grill', idea_id: idea }]);
    const entry = (await api.queues.queue('IDEA_GRILL').getJob(job!.id))!;

    // The claim of the first worker waits on this lock, so it cannot commit before the worker dies.
    const unlock = await lockJobRow(job!.id);
    const doomed = await startWorker();
    await waitFor('the delivery to be active', async () => (await entry.getState()) === 'active');
    await waitFor('the claim to wait on the row', async () => {
      const waiting = await sql<{ count: number }>`
        SELECT count(*)::int AS count FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%claude_jobs%'
      `.execute(db);
      return waiting.rows[0]!.count > 0;
    });
    doomed.kill('SIGKILL');
    expect((await doomed.exited).signal).toBe('SIGKILL');
    await unlock();
    expect((await db.selectFrom('claude_jobs').select('status').where('id', '=', job!.id).executeTakeFirstOrThrow()).status).toBe('QUEUED');

    // No sweeper runs: only BullMQ's stalled check, timed from LEASE_MS, can hand the job on. On
    // BullMQ's own 30 s defaults it would not be handed on within this wait.
    await startWorker();
    const done = await waitFor(
      'the second worker to finish the job',
      async () => {
        const row = await db.selectFrom('claude_jobs').selectAll().where('id', '=', job!.id).executeTakeFirstOrThrow();
        return row.status === 'DONE' ? row : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(done).toMatchObject({ claim_epoch: 1, attempt_count: 1, requeue_count: 0 });
    const history = await db
      .selectFrom('transitions')
      .select(['from_status', 'to_status'])
      .where('entity_id', '=', job!.id)
      .orderBy('id')
      .execute();
    expect(history.map((h) => `${h.from_status ?? '*'}>${h.to_status}`)).toEqual([
      '*>QUEUED',
      'QUEUED>CLAIMED',
      'CLAIMED>RUNNING',
      'RUNNING>DONE',
    ]);
  });
});

describe('a worker killed mid-run', () => {
  it('leaves nothing claimed or running once its leases lapse: every job fails with worker_lost and its retry finishes, none lost', async () => {
    const ideas = await createIdeas(db, product, 8, 'DRAFT');
    const tasks = await createTasks(db, product, 4);
    const runs = await createSprintRuns(db, product, 2);
    const originals = await enqueue([
      ...ideas.map((idea_id) => ({ kind: 'idea_grill', idea_id })),
      ...tasks.map((task_id) => ({ kind: 'task_implementation', task_id })),
      ...runs.map((sprint_run_id) => ({ kind: 'sprint_implementation', sprint_run_id })),
    ]);
    const ids = originals.map((job) => job.id);

    // Every agent of this worker hangs, so it dies with all of them running.
    const doomed = await startWorker({ DRY_RUN_DELAY_MS: '600000' });
    await waitFor('every job to be running', async () => (await statuses(ids)).every((s) => s === 'RUNNING'));
    doomed.kill('SIGKILL');
    expect((await doomed.exited).signal).toBe('SIGKILL');

    await startWorker();
    const sweeper = spawnJobfleet(['sweeper'], env.env);
    await sweeper.line(/sweeper running/);

    await waitFor(
      'every job and its retries to finish',
      async () => {
        const open = await db.selectFrom('claude_jobs').select('id').where('status', 'in', ['QUEUED', 'CLAIMED', 'RUNNING']).execute();
        return open.length === 0;
      },
      { timeoutMs: 60_000 },
    );

    expect(await heldJobs(ids)).toEqual([]);
    const rows = await db
      .selectFrom('claude_jobs')
      .selectAll()
      .where((eb) => eb.or([eb('id', 'in', ids), eb('retry_of_job_id', 'in', ids)]))
      .execute();
    for (const original of rows.filter((row) => ids.includes(row.id))) {
      expect(original).toMatchObject({ status: 'FAILED', error: { code: 'worker_lost' } });
      const retries = rows.filter((row) => row.retry_of_job_id === original.id);
      expect(retries.map((retry) => retry.status)).toEqual(['DONE']);
    }
    const ideaRows = await db.selectFrom('ideas').select('status').where('id', 'in', ideas).execute();
    expect(ideaRows.map((row) => row.status)).toEqual(ideas.map(() => 'GRILLED'));
    const taskRows = await db.selectFrom('tasks').select('status').where('id', 'in', tasks).execute();
    expect(taskRows.map((row) => row.status)).toEqual(tasks.map(() => 'REVIEW'));
    // Each run lost its worker mid-step; the retried job ran that step again and finished the run.
    const runRows = await db.selectFrom('sprint_runs').select('status').where('id', 'in', runs).execute();
    expect(runRows.map((row) => row.status)).toEqual(runs.map(() => 'DONE'));
    const steps = await db.selectFrom('steps').select('status').where('sprint_run_id', 'in', runs).execute();
    expect(steps.map((step) => step.status)).toEqual(runs.map(() => 'COMPLETED'));
  });
});

describe('SIGTERM', () => {
  it('lets running jobs finish, takes no new ones, leaves nothing claimed or running, and exits 0', async () => {
    const gate = createDryRunGate();
    const ideas = await createIdeas(db, product, 8, 'DRAFT', `Held until the worker is stopping ${gate.marker}`);
    const first = await enqueue(ideas.slice(0, 6).map((idea_id) => ({ kind: 'idea_grill', idea_id })));
    const ids = first.map((job) => job.id);
    const worker = await startWorker({ LOG_LEVEL: 'info' });
    await waitFor('the jobs to be running', async () => (await statuses(ids)).every((s) => s === 'RUNNING'));

    worker.kill('SIGTERM');
    await worker.line(/worker stopping/);
    const late = await enqueue(ideas.slice(6).map((idea_id) => ({ kind: 'idea_grill', idea_id })));
    gate.open();

    expect((await worker.exited).code).toBe(0);
    expect(await statuses(ids)).toEqual(ids.map(() => 'DONE'));
    expect(await statuses(late.map((job) => job.id))).toEqual(['QUEUED', 'QUEUED']);
    expect(await heldJobs(ids)).toEqual([]);
    const registered = await db
      .selectFrom('workers')
      .innerJoin('api_tokens', 'api_tokens.id', 'workers.token_id')
      .select(['workers.stopped_at', 'api_tokens.revoked_at'])
      .where('workers.id', '=', worker.id)
      .executeTakeFirstOrThrow();
    expect(registered.stopped_at).not.toBeNull();
    expect(registered.revoked_at).not.toBeNull();
  });

  it('aborts agents still running at the deadline, fails and requeues their jobs, and still exits 0', async () => {
    const ideas = await createIdeas(db, product, 4, 'DRAFT');
    const jobs = await enqueue(ideas.map((idea_id) => ({ kind: 'idea_grill', idea_id })));
    const ids = jobs.map((job) => job.id);
    const worker = await startWorker({ DRY_RUN_DELAY_MS: '600000', SHUTDOWN_TIMEOUT_MS: '300' });
    await waitFor('the jobs to be running', async () => (await statuses(ids)).every((s) => s === 'RUNNING'));

    worker.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
    expect(await heldJobs(ids)).toEqual([]);
    const rows = await db.selectFrom('claude_jobs').selectAll().where('id', 'in', ids).execute();
    expect(rows.map((row) => (row.error as { code: string }).code)).toEqual(ids.map(() => 'worker_shutdown'));
    const retries = await db.selectFrom('claude_jobs').selectAll().where('retry_of_job_id', 'in', ids).execute();
    expect(retries.map((row) => row.status)).toEqual(ids.map(() => 'QUEUED'));
    for (const retry of retries) expect(await api.queues.queue('IDEA_GRILL').getJob(`${retry.id}-r1`)).toBeDefined();
    const ideaRows = await db.selectFrom('ideas').select('status').where('id', 'in', ideas).execute();
    expect(ideaRows.map((row) => row.status)).toEqual(ideas.map(() => 'GRILLING'));
  });
});
