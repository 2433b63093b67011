/**
 * Jobs a worker process holds hang from its lease: the sweeper judges them by their worker's
 * last beat (or its stop), keeping every outcome a lapsed job lease had (a stale claim requeued,
 * a running job failed `worker_lost` and retried per kind); a job with a lease of its own (pull
 * mode) is judged by that lease, side by side. A job token of a worker's job expires with the
 * worker's lease.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import { claimJobs } from '../../src/jobs/claim-jobs.js';
import { enqueueJobs } from '../../src/jobs/enqueue-jobs.js';
import { heldJob } from '../../src/jobs/job-holder.js';
import { lapsedHolders } from '../../src/jobs/worker-lease.js';
import { sweep } from '../../src/sweeper/sweep.js';
import { startHeartbeat } from '../../src/workers/heartbeat.js';
import { RunningJobs } from '../../src/workers/running-jobs.js';
import { deregisterWorker, registerWorker, type WorkerIdentity } from '../../src/workers/worker-registry.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { leaseSweepDeps } from '../helpers/leased-jobs.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

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
afterAll(async () => {
  await api.close();
  await env.teardown();
});

const LEASE_MS = 60_000;
const sweepDeps = () => leaseSweepDeps({ db, queues: api.queues, logger: env.logger }, LEASE_MS);

async function worker(): Promise<WorkerIdentity> {
  return registerWorker(db, { kinds: ['IDEA_GRILL'], concurrency: 10, version: 'test' });
}

/** `count` grill jobs claimed by `by`: on its worker lease (leaseMs null) or a lease of their own. */
async function claimed(by: WorkerIdentity, count: number, options: { leaseMs: number | null; start: boolean }): Promise<string[]> {
  const ideas = await createIdeas(db, product, count, 'DRAFT');
  const jobs = await enqueueJobs(
    { db, queues: api.queues, logger: env.logger },
    ideas.map((idea) => ({ kind: 'IDEA_GRILL' as const, subjectId: idea })),
    { actorTokenId: null },
  );
  const ids = jobs.map((job) => job.id);
  const { claimed } = await db.transaction().execute((trx) => claimJobs(trx, ids, by, options));
  expect(claimed).toHaveLength(count);
  return ids;
}

/**
 * The worker last beat, and last claimed, longer ago than its lease lasts (no waiting on the
 * clock: its rows say so; a claim counts as a beat for its job).
 */
async function silence(of: WorkerIdentity) {
  await sql`UPDATE workers SET heartbeat_at = now() - ${2 * LEASE_MS} * interval '1 millisecond' WHERE id = ${of.workerId}`.execute(db);
  await sql`
    UPDATE claude_jobs SET claimed_at = claimed_at - ${2 * LEASE_MS} * interval '1 millisecond'
    WHERE claimed_by_worker_id = ${of.workerId} AND status IN ('CLAIMED', 'RUNNING')
  `.execute(db);
}

async function rows(ids: string[]) {
  return db.selectFrom('claude_jobs').selectAll().where('id', 'in', ids).orderBy('id').execute();
}

describe('a worker lease', () => {
  it('keeps its running jobs while the worker beats, and loses them worker_lost, retried, once it went silent', async () => {
    const [silent, beating] = [await worker(), await worker()];
    const lost = await claimed(silent, 3, { leaseMs: null, start: true });
    const kept = await claimed(beating, 2, { leaseMs: null, start: true });
    expect((await rows([...lost, ...kept])).every((row) => row.lease_expires_at === null)).toBe(true);
    await silence(silent);
    await silence(beating);
    // The beating worker beats (its heartbeat writes its row) just before the sweep.
    const heartbeat = startHeartbeat({ db, identity: beating, running: new RunningJobs(), intervalMs: 3_600_000, logger: env.logger });
    await heartbeat.beat();
    await heartbeat.stop();

    const report = await sweep(sweepDeps());
    expect(report.lost).toBeGreaterThanOrEqual(3);
    for (const row of await rows(lost)) {
      expect(row).toMatchObject({ status: 'FAILED', error: { code: 'worker_lost' } });
      const retry = await db.selectFrom('claude_jobs').selectAll().where('retry_of_job_id', '=', row.id).executeTakeFirstOrThrow();
      expect(retry).toMatchObject({ status: 'QUEUED', requeue_count: 1 });
      expect(await api.queues.queue('IDEA_GRILL').getJob(`${retry.id}-r1`)).toBeDefined();
    }
    expect((await rows(kept)).map((row) => row.status)).toEqual(['RUNNING', 'RUNNING']);
    const history = await db
      .selectFrom('transitions')
      .select(['from_status', 'to_status', 'trigger'])
      .where('entity_id', '=', lost[0]!)
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow();
    expect(history).toEqual({ from_status: 'RUNNING', to_status: 'FAILED', trigger: 'worker_lost' });
  });

  it('puts a claimed job of a silent worker back in the queue as a stale claim', async () => {
    const silent = await worker();
    const [id] = await claimed(silent, 1, { leaseMs: null, start: false });
    await silence(silent);
    await sweep(sweepDeps());
    const [row] = await rows([id!]);
    expect(row).toMatchObject({ status: 'QUEUED', requeue_count: 1, lease_expires_at: null });
    const history = await db
      .selectFrom('transitions')
      .select(['to_status', 'trigger'])
      .where('entity_id', '=', id!)
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow();
    expect(history).toEqual({ to_status: 'QUEUED', trigger: 'stale_claim' });
  });

  it('ends at once when its worker stopped, whatever its last beat', async () => {
    const stopped = await worker();
    const ids = await claimed(stopped, 2, { leaseMs: null, start: true });
    await deregisterWorker(db, stopped);
    await sweep(sweepDeps());
    expect((await rows(ids)).map((row) => row.error)).toEqual([
      expect.objectContaining({ code: 'worker_lost' }),
      expect.objectContaining({ code: 'worker_lost' }),
    ]);
  });

  it('is judged beside leases of their own: a silent worker keeps its own-leased job, a beating one loses its lapsed one', async () => {
    const [silent, beating] = [await worker(), await worker()];
    const [ownLive] = await claimed(silent, 1, { leaseMs: LEASE_MS, start: true });
    const [ownLapsed] = await claimed(beating, 1, { leaseMs: 1_000, start: true });
    await sql`UPDATE claude_jobs SET lease_expires_at = now() - interval '1 second' WHERE id = ${ownLapsed}`.execute(db);
    await silence(silent);
    await sweep(sweepDeps());
    const [live] = await rows([ownLive!]);
    const [lapsed] = await rows([ownLapsed!]);
    expect(live).toMatchObject({ status: 'RUNNING' });
    expect(lapsed).toMatchObject({ status: 'FAILED', error: { code: 'worker_lost' } });
  });

  it('is not judged right after an outage of Postgres, when no worker could beat', async () => {
    const silent = await worker();
    const ids = await claimed(silent, 1, { leaseMs: null, start: true });
    await silence(silent);
    await sweep(sweepDeps(), { judgeLeases: false });
    expect((await rows(ids)).map((row) => row.status)).toEqual(['RUNNING']);
    await sweep(sweepDeps());
    expect((await rows(ids)).map((row) => row.status)).toEqual(['FAILED']);
  });

  it('finds its lapsed holders through an index, one probe per holder', async () => {
    const silent = await worker();
    await claimed(silent, 3, { leaseMs: null, start: true });
    await silence(silent);
    expect(await lapsedHolders(db, { leaseMs: LEASE_MS })).toContain(silent.workerId);
    const plan = await db.transaction().execute(async (trx) => {
      // The table is tiny here; the planner is told to use an index if any can serve.
      await sql`SET LOCAL enable_seqscan = off`.execute(trx);
      const { rows } = await sql<{ 'QUERY PLAN': string }>`
        EXPLAIN SELECT claimed_by_worker_id FROM claude_jobs
        WHERE status IN ('CLAIMED', 'RUNNING') AND lease_expires_at IS NULL AND claimed_by_worker_id > ${silent.workerId}::uuid
        ORDER BY claimed_by_worker_id LIMIT 1
      `.execute(trx);
      return rows.map((row) => row['QUERY PLAN']).join('\n');
    });
    expect(plan).toContain('claude_jobs_worker_held_idx');
    await sweep(sweepDeps());
  });

  it('expires the job token of a job whose worker went silent', async () => {
    const holder = await worker();
    const [id] = await claimed(holder, 1, { leaseMs: null, start: true });
    const [row] = await rows([id!]);
    const principal = { tokenId: '', ownerId: '', scopes: ['agent' as const], job: { id: id!, epoch: row!.claim_epoch } };
    expect((await heldJob(db, principal, { leaseMs: LEASE_MS })).id).toBe(id);
    await silence(holder);
    await expect(heldJob(db, principal, { leaseMs: LEASE_MS })).rejects.toMatchObject({
      code: 'job_token_expired',
      message: expect.stringContaining('lost its lease'),
    });
  });
});
