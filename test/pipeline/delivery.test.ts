/**
 * At-least-once delivery, exactly-once effect: duplicate deliveries change nothing, a worker whose
 * claim is gone cannot write, and the sweeper settles what stale claims and lost workers leave.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClaudeJob } from '../../src/db/tables/claude-job.table.js';
import { createDryRunExecutor } from '../../src/executors/dry-run.executor.js';
import { cancelJob } from '../../src/jobs/cancel-job.js';
import { claimJobs, leaseOf, startJobs } from '../../src/jobs/claim-jobs.js';
import { enqueueJobs, insertJobs } from '../../src/jobs/enqueue-jobs.js';
import { finishJobs } from '../../src/jobs/finish-jobs.js';
import { explainLeaseRefusal } from '../../src/jobs/job-lease.js';
import { MACHINES } from '../../src/machines/index.js';
import { sweep } from '../../src/sweeper/sweep.js';
import { createEntities } from '../../src/transitions/index.js';
import { registerWorker, type WorkerIdentity } from '../../src/workers/worker-registry.js';
import { startWorkerPool, type WorkerPool } from '../../src/workers/worker-pool.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { createDryRunGate } from '../helpers/dry-run-gate.js';
import { createIdeas, createProduct, createSprintRuns } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

let env: TestEnv;
let api: ApiHarness;
let product: string;
beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  product = await createProduct(env.database.db);
});
afterAll(async () => {
  await api.close();
  await env.teardown();
});

const db = () => env.database.db;
const sweepDeps = (overrides: Partial<Parameters<typeof sweep>[0]> = {}) => ({
  db: db(),
  queues: api.queues,
  logger: env.logger,
  leaseMs: 60_000,
  staleClaimMs: 60_000,
  maxRetries: 2,
  reconcileGraceMs: 60_000,
  ...overrides,
});

async function startPool(): Promise<WorkerPool> {
  return startWorkerPool({
    config: env.config,
    db: db(),
    logger: env.logger,
    executor: createDryRunExecutor(),
    kinds: ['IDEA_GRILL', 'PLAN_CHAT', 'SPRINT_IMPLEMENTATION'],
    concurrency: 10,
    version: 'test',
  });
}

async function grillJob(): Promise<ClaudeJob> {
  const [idea] = await createIdeas(db(), product, 1, 'DRAFT');
  const [job] = await enqueueJobs({ db: db(), queues: api.queues, logger: env.logger }, [{ kind: 'IDEA_GRILL', subjectId: idea! }], {
    actorTokenId: null,
  });
  return job!;
}

async function jobRow(id: string) {
  return db().selectFrom('claude_jobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

async function effects(job: ClaudeJob) {
  const done = await db().selectFrom('transitions').select('id').where('entity_id', '=', job.id).where('to_status', '=', 'DONE').execute();
  const grilled = await db()
    .selectFrom('transitions')
    .select('id')
    .where('entity_id', '=', job.idea_id!)
    .where('to_status', '=', 'GRILLED')
    .execute();
  const logs = await db()
    .selectFrom('idea_logs')
    .select('id')
    .where('idea_id', '=', job.idea_id!)
    .where('type', '=', 'GRILL_RESULT')
    .execute();
  return { done: done.length, grilled: grilled.length, logs: logs.length };
}

describe('duplicate deliveries', () => {
  it('a delivery of a job that is already done is acknowledged and changes nothing', async () => {
    const pool = await startPool();
    try {
      const job = await grillJob();
      await waitFor('the job to be done', async () => (await jobRow(job.id)).status === 'DONE');
      expect(await effects(job)).toEqual({ done: 1, grilled: 1, logs: 1 });

      const queue = api.queues.queue('IDEA_GRILL');
      const again = await queue.add('idea_grill', { id: job.id }, { jobId: `${job.id}-again` });
      const finished = await waitFor('the second delivery to finish', async () => {
        const fresh = await queue.getJob(again.id!);
        return fresh?.finishedOn ? fresh : undefined;
      });
      expect(finished.returnvalue).toBe('dropped: not queued');
      expect(await effects(job)).toEqual({ done: 1, grilled: 1, logs: 1 });
      expect((await jobRow(job.id)).attempt_count).toBe(1);
    } finally {
      await pool.close(5_000);
    }
  });

  it('five deliveries of one job at the same time have one effect', async () => {
    const job = await grillJob();
    const queue = api.queues.queue('IDEA_GRILL');
    const copies = await Promise.all([1, 2, 3, 4].map((n) => queue.add('idea_grill', { id: job.id }, { jobId: `${job.id}-copy${n}` })));
    const pool = await startPool();
    try {
      const results = await Promise.all(
        [job.id, ...copies.map((c) => c.id!)].map(async (id) => {
          const finished = await waitFor(`delivery ${id} to finish`, async () => {
            const fresh = await queue.getJob(id);
            return fresh?.finishedOn ? fresh : undefined;
          });
          return finished.returnvalue as string;
        }),
      );
      expect(results.filter((r) => r === 'DONE')).toHaveLength(1);
      expect(results.filter((r) => r === 'dropped: not queued')).toHaveLength(4);
      expect(await effects(job)).toEqual({ done: 1, grilled: 1, logs: 1 });
    } finally {
      await pool.close(5_000);
    }
  });
});

describe('a delivery that comes before its row is committed', () => {
  it('is delivered again once the row is there instead of being dropped: the job runs once and is done', async () => {
    const pool = await startPool();
    try {
      const [idea] = await createIdeas(db(), product, 1, 'DRAFT');
      let commit!: () => void;
      const gate = new Promise<void>((resolve) => (commit = resolve));
      let inserted!: (job: ClaudeJob) => void;
      const insertedJob = new Promise<ClaudeJob>((resolve) => (inserted = resolve));
      const enqueue = db()
        .transaction()
        .execute(async (trx) => {
          const { created } = await insertJobs(trx, [{ kind: 'IDEA_GRILL', subjectId: idea! }], { actorTokenId: null });
          inserted(created[0]!);
          await gate;
        });
      const job = await Promise.race([insertedJob, enqueue.then(() => Promise.reject(new Error('the enqueue ended early')))]);
      const queue = api.queues.queue('IDEA_GRILL');
      try {
        // The window: the queue add lands while the row's transaction is still open.
        await api.queues.add([job]);
        await waitFor('the early delivery to be answered', async () => {
          const state = await (await queue.getJob(job.id))?.getState();
          return state === 'completed' || state === 'delayed' || state === 'failed' ? state : undefined;
        });
        expect((await queue.getJob(job.id))!.returnvalue).not.toBe('dropped: not queued');
      } finally {
        commit();
        await enqueue;
      }

      // No sweeper runs: without a second delivery the row would stay queued.
      await waitFor('the job to be done', async () => (await jobRow(job.id)).status === 'DONE', { timeoutMs: 15_000 });
      expect(await jobRow(job.id)).toMatchObject({ attempt_count: 1, claim_epoch: 1 });
      expect(await effects(job)).toEqual({ done: 1, grilled: 1, logs: 1 });
      const entry = await waitFor('the delivery to complete', async () => {
        const fresh = await queue.getJob(job.id);
        return fresh?.finishedOn ? fresh : undefined;
      });
      expect(entry.returnvalue).toBe('DONE');
    } finally {
      await pool.close(5_000);
    }
  });
});

describe('what the queues show', () => {
  async function settledEntry(id: string) {
    const queue = api.queues.queue('IDEA_GRILL');
    return waitFor(`delivery ${id} to finish`, async () => {
      const entry = await queue.getJob(id);
      return entry?.finishedOn ? entry : undefined;
    });
  }
  const failures = async (id: string) =>
    (await db().selectFrom('transitions').select('id').where('entity_id', '=', id).where('to_status', '=', 'FAILED').execute()).length;

  it('a job that fails in Postgres is failed in its queue, with the reason, not retried by BullMQ, and failed once', async () => {
    const pool = await startPool();
    try {
      const queue = api.queues.queue('IDEA_GRILL');
      const before = await queue.getJobCounts('failed', 'completed');
      const [idea] = await createIdeas(db(), product, 1, 'DRAFT', 'Doomed from the start [dry-run:fail]');
      const [job] = await enqueueJobs({ db: db(), queues: api.queues, logger: env.logger }, [{ kind: 'IDEA_GRILL', subjectId: idea! }], {
        actorTokenId: null,
      });

      const entry = await settledEntry(job!.id);
      expect(await entry.getState()).toBe('failed');
      expect(entry.failedReason).toMatch(/^agent_failed: .*\[dry-run:fail\]/);
      expect(entry.attemptsMade).toBe(1);
      expect(await queue.getJobCounts('failed', 'completed')).toEqual({ failed: before.failed! + 1, completed: before.completed });

      expect(await jobRow(job!.id)).toMatchObject({ status: 'FAILED', attempt_count: 1, error: { code: 'agent_failed' } });
      expect(await failures(job!.id)).toBe(1);
    } finally {
      await pool.close(5_000);
    }
  });

  it('a job cancelled while its agent runs is failed in its queue, not completed', async () => {
    const pool = await startPool();
    try {
      // A gate never opened: the agent runs until the cancel stops it.
      const [idea] = await createIdeas(db(), product, 1, 'DRAFT', `Slow thinking ${createDryRunGate().marker}`);
      const [job] = await enqueueJobs({ db: db(), queues: api.queues, logger: env.logger }, [{ kind: 'IDEA_GRILL', subjectId: idea! }], {
        actorTokenId: null,
      });
      await waitFor('the job to run', async () => (await jobRow(job!.id)).status === 'RUNNING');
      expect((await api.call('POST', `/api/v1/jobs/${job!.id}/cancel`, {})).status).toBe(200);

      const entry = await settledEntry(job!.id);
      expect(await entry.getState()).toBe('failed');
      expect(entry.failedReason).toMatch(/^cancelled: /);
      expect((await jobRow(job!.id)).status).toBe('CANCELLED');
    } finally {
      await pool.close(5_000);
    }
  });

  it('a job cancelled whose signal never reaches its worker is failed in its queue as cancelled, found at lease renewal', async () => {
    const pool = await startPool();
    try {
      const [idea] = await createIdeas(db(), product, 1, 'DRAFT', `Slow thinking ${createDryRunGate().marker}`);
      const [job] = await enqueueJobs({ db: db(), queues: api.queues, logger: env.logger }, [{ kind: 'IDEA_GRILL', subjectId: idea! }], {
        actorTokenId: null,
      });
      await waitFor('the job to run', async () => (await jobRow(job!.id)).status === 'RUNNING');
      // No signal: only the worker's next heartbeat finds the row cancelled.
      await cancelJob({ db: db(), queues: api.queues, signals: { publishCancel: async () => {} } }, job!.id, { actorTokenId: null });

      const entry = await settledEntry(job!.id);
      expect(await entry.getState()).toBe('failed');
      expect(entry.failedReason).toMatch(/^cancelled: /);
      expect((await jobRow(job!.id)).status).toBe('CANCELLED');
    } finally {
      await pool.close(5_000);
    }
  });

  it('a job done in Postgres is completed in its queue', async () => {
    const pool = await startPool();
    try {
      const job = await grillJob();
      const entry = await settledEntry(job.id);
      expect(await entry.getState()).toBe('completed');
      expect(entry.returnvalue).toBe('DONE');
    } finally {
      await pool.close(5_000);
    }
  });
});

describe('fencing', () => {
  let a: WorkerIdentity;
  let b: WorkerIdentity;
  beforeAll(async () => {
    a = await registerWorker(db(), { kinds: ['IDEA_GRILL'], concurrency: 1, version: 'test' });
    b = await registerWorker(db(), { kinds: ['IDEA_GRILL'], concurrency: 1, version: 'test' });
  });

  it("refuses a write that carries another worker's token with 403, writing nothing", async () => {
    const job = await grillJob();
    const [claimed] = (
      await db()
        .transaction()
        .execute((trx) => claimJobs(trx, [job.id], a, { leaseMs: 60_000, start: true }))
    ).claimed;
    const forged = { ...leaseOf(claimed!), tokenId: b.tokenId };
    const outcome = await db()
      .transaction()
      .execute((trx) =>
        finishJobs(trx, [{ lease: forged, kind: 'IDEA_GRILL', verdict: { status: 'DONE', result: 'forged' }, output: null }]),
      );
    expect(outcome.finished).toEqual([]);
    const refusal = await explainLeaseRefusal(db(), forged, 'RUNNING');
    expect(refusal.code).toBe('claim_token_mismatch');
    expect(refusal.status).toBe(403);
    expect(await jobRow(job.id)).toMatchObject({ status: 'RUNNING', result: null });
  });

  it('refuses a write from a claim the sweeper replaced with 409, and the newer claim finishes', async () => {
    const job = await grillJob();
    const [first] = (
      await db()
        .transaction()
        .execute((trx) => claimJobs(trx, [job.id], a, { leaseMs: 60_000, start: false }))
    ).claimed;
    expect(first).toMatchObject({ status: 'CLAIMED', claim_epoch: 1 });

    const report = await sweep(sweepDeps({ staleClaimMs: 0 }));
    expect(report.requeued).toBeGreaterThanOrEqual(1);
    expect(await jobRow(job.id)).toMatchObject({ status: 'QUEUED', requeue_count: 1 });
    expect(await api.queues.queue('IDEA_GRILL').getJob(`${job.id}-r1`)).toBeDefined();

    const [second] = (
      await db()
        .transaction()
        .execute((trx) => claimJobs(trx, [job.id], b, { leaseMs: 60_000, start: true }))
    ).claimed;
    expect(second).toMatchObject({ status: 'RUNNING', claim_epoch: 2 });

    const late = await db()
      .transaction()
      .execute((trx) => startJobs(trx, [leaseOf(first!)], { leaseMs: 60_000 }));
    expect(late.started).toEqual([]);
    const refusal = await explainLeaseRefusal(db(), leaseOf(first!), 'CLAIMED');
    expect(refusal.code).toBe('stale_claim');
    expect(refusal.status).toBe(409);

    const done = await db()
      .transaction()
      .execute((trx) =>
        finishJobs(trx, [
          {
            lease: leaseOf(second!),
            kind: 'IDEA_GRILL',
            verdict: { status: 'DONE', result: 'ok' },
            output: { text: '# grill', data: null, usage: { inputTokens: 1, outputTokens: 1, costUsd: 0 }, agent: 'test' },
          },
        ]),
      );
    expect(done.finished.map((j) => j.status)).toEqual(['DONE']);
    expect(await effects(job)).toEqual({ done: 1, grilled: 1, logs: 1 });
  });

  it('fails a claim that keeps going stale once it passes the retry cap', async () => {
    const job = await grillJob();
    for (let round = 0; round < 3; round += 1) {
      await db()
        .transaction()
        .execute((trx) => claimJobs(trx, [job.id], a, { leaseMs: 60_000, start: false }));
      await sweep(sweepDeps({ staleClaimMs: 0 }));
    }
    const row = await jobRow(job.id);
    expect(row).toMatchObject({ status: 'FAILED', requeue_count: 2, attempt_count: 3 });
    expect(row.error).toMatchObject({ code: 'retries_exhausted' });
    const idea = await db().selectFrom('ideas').select('status').where('id', '=', job.idea_id!).executeTakeFirstOrThrow();
    expect(idea.status).toBe('GRILL_FAILED');
  });
});

describe('lost workers', () => {
  let a: WorkerIdentity;
  beforeAll(async () => {
    a = await registerWorker(db(), { kinds: ['IDEA_GRILL'], concurrency: 1, version: 'test' });
  });

  it('fails a job whose lease lapsed with worker_lost and retries it as a new job, leaving the idea grilling', async () => {
    const job = await grillJob();
    await db()
      .transaction()
      .execute((trx) => claimJobs(trx, [job.id], a, { leaseMs: 1, start: true }));
    await waitFor('the lease to lapse', async () => (await jobRow(job.id)).lease_expires_at! < new Date());

    const report = await sweep(sweepDeps());
    expect(report.lost).toBeGreaterThanOrEqual(1);
    const failed = await jobRow(job.id);
    expect(failed).toMatchObject({ status: 'FAILED', error: { code: 'worker_lost' } });
    const retry = await db().selectFrom('claude_jobs').selectAll().where('retry_of_job_id', '=', job.id).executeTakeFirstOrThrow();
    expect(retry).toMatchObject({ status: 'QUEUED', kind: 'IDEA_GRILL', idea_id: job.idea_id, requeue_count: 1 });
    expect((failed.error as { retried_as: string }).retried_as).toBe(retry.id);
    expect(await api.queues.queue('IDEA_GRILL').getJob(`${retry.id}-r1`)).toBeDefined();
    const idea = await db().selectFrom('ideas').select('status').where('id', '=', job.idea_id!).executeTakeFirstOrThrow();
    expect(idea.status).toBe('GRILLING');
    const history = await db()
      .selectFrom('transitions')
      .selectAll()
      .where('entity_id', '=', job.id)
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow();
    expect(history).toMatchObject({ from_status: 'RUNNING', to_status: 'FAILED', trigger: 'worker_lost' });
  });

  it('does not retry past the cap: the last failure reaches the idea', async () => {
    const job = await grillJob();
    await db().updateTable('claude_jobs').set({ requeue_count: 2 }).where('id', '=', job.id).execute();
    await db()
      .transaction()
      .execute((trx) => claimJobs(trx, [job.id], a, { leaseMs: 1, start: true }));
    await waitFor('the lease to lapse', async () => (await jobRow(job.id)).lease_expires_at! < new Date());
    await sweep(sweepDeps());
    expect((await jobRow(job.id)).status).toBe('FAILED');
    expect(await db().selectFrom('claude_jobs').select('id').where('retry_of_job_id', '=', job.id).execute()).toEqual([]);
    const idea = await db().selectFrom('ideas').select('status').where('id', '=', job.idea_id!).executeTakeFirstOrThrow();
    expect(idea.status).toBe('GRILL_FAILED');
  });

  it('retries a sprint job too, and the run carries on', async () => {
    const [run] = await createSprintRuns(db(), product, 1);
    const [job] = await enqueueJobs(
      { db: db(), queues: api.queues, logger: env.logger },
      [{ kind: 'SPRINT_IMPLEMENTATION', subjectId: run! }],
      { actorTokenId: null },
    );
    await db()
      .transaction()
      .execute((trx) => claimJobs(trx, [job!.id], a, { leaseMs: 1, start: true }));
    await waitFor('the lease to lapse', async () => (await jobRow(job!.id)).lease_expires_at! < new Date());
    await sweep(sweepDeps());
    expect((await jobRow(job!.id)).status).toBe('FAILED');
    const retry = await db().selectFrom('claude_jobs').selectAll().where('retry_of_job_id', '=', job!.id).executeTakeFirstOrThrow();
    expect(retry).toMatchObject({ status: 'QUEUED', kind: 'SPRINT_IMPLEMENTATION', sprint_run_id: run });
    const row = await db().selectFrom('sprint_runs').select('status').where('id', '=', run!).executeTakeFirstOrThrow();
    expect(row.status).toBe('RUNNING');
  });

  it('fails the run when a sprint job is lost past the retry cap', async () => {
    const [run] = await createSprintRuns(db(), product, 1);
    const [job] = await enqueueJobs(
      { db: db(), queues: api.queues, logger: env.logger },
      [{ kind: 'SPRINT_IMPLEMENTATION', subjectId: run! }],
      { actorTokenId: null },
    );
    await db().updateTable('claude_jobs').set({ requeue_count: 2 }).where('id', '=', job!.id).execute();
    await db()
      .transaction()
      .execute((trx) => claimJobs(trx, [job!.id], a, { leaseMs: 1, start: true }));
    await waitFor('the lease to lapse', async () => (await jobRow(job!.id)).lease_expires_at! < new Date());
    await sweep(sweepDeps());
    const row = await db()
      .selectFrom('sprint_runs')
      .innerJoin('sprints', 'sprints.id', 'sprint_runs.sprint_id')
      .select(['sprint_runs.status as run', 'sprints.status as sprint'])
      .where('sprint_runs.id', '=', run!)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ run: 'FAILED', sprint: 'FAILED' });
  });
});

describe('superseding', () => {
  it('skips the older of two queued jobs of one kind and subject that raced past each other', async () => {
    const [idea] = await createIdeas(db(), product, 1, 'PLAN_READY');
    // Two enqueues in flight at once each miss the other's row; create both without their check.
    const [older, newer] = await db()
      .transaction()
      .execute(async (trx) =>
        (
          await createEntities(trx, MACHINES.CLAUDE_JOB, [
            { kind: 'PLAN_CHAT', idea_id: idea!, product_id: product, owner_id: 'owner-a', payload: JSON.stringify({ message: 'one' }) },
            { kind: 'PLAN_CHAT', idea_id: idea!, product_id: product, owner_id: 'owner-a', payload: JSON.stringify({ message: 'two' }) },
          ])
        ).map((c) => c.row),
      );
    const report = await sweep(sweepDeps());
    expect(report.superseded).toBe(1);
    expect((await jobRow(older!.id)).status).toBe('SKIPPED');
    expect((await jobRow(newer!.id)).status).toBe('QUEUED');
  });
});

describe('a claim batch', () => {
  it('claims a job named twice once, and the rest of the batch with it', async () => {
    const a = await registerWorker(db(), { kinds: ['IDEA_GRILL'], concurrency: 1, version: 'test' });
    const jobs = await Promise.all([grillJob(), grillJob()]);
    const outcome = await db()
      .transaction()
      .execute((trx) => claimJobs(trx, [...jobs.map((j) => j.id), jobs[0]!.id], a, { leaseMs: 60_000, start: true }));
    expect(outcome.claimed).toHaveLength(2);
    expect(outcome.refused).toEqual([jobs[0]!.id]);
  });
});
