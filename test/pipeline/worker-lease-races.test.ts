/**
 * A worker's lease at its edges: a worker process's clock is not Postgres's (the lease is judged
 * by Postgres's now(), so it must be written by it too), and a claim is a sign of life as good as
 * a beat: a job claimed a moment ago is not lost because its worker's last beat is old (under the
 * leases jobs had of their own, a claim gave the job LEASE_MS from the claim).
 */
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Db } from '../../src/db/database.js';
import { heldJob } from '../../src/jobs/job-holder.js';
import { sweep } from '../../src/sweeper/sweep.js';
import { registerWorker, type WorkerIdentity } from '../../src/workers/worker-registry.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { claimedGrillJobs, leaseSweepDeps } from '../helpers/leased-jobs.js';
import { createProduct } from '../helpers/subjects.js';
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
afterEach(() => {
  vi.useRealTimers();
});
afterAll(async () => {
  await api.close();
  await env.teardown();
});

const LEASE_MS = 60_000;
const sweepDeps = () => leaseSweepDeps({ db, queues: api.queues, logger: env.logger }, LEASE_MS);

/** `count` grill jobs claimed and started by `by` on its worker lease, as a worker process claims them. */
async function claimedBy(by: WorkerIdentity, count: number): Promise<string[]> {
  return (await claimedGrillJobs(db, product, by, count)).map((job) => job.id);
}

async function statuses(ids: string[]) {
  const rows = await db.selectFrom('claude_jobs').select(['status', 'error']).where('id', 'in', ids).execute();
  return rows.map((row) => row.status);
}

describe('a worker lease at its edges', () => {
  it('is timed by Postgres from registration on: a worker whose clock runs behind keeps the jobs it claims before its first beat', async () => {
    // The worker process's clock is two leases behind Postgres's.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() - 2 * LEASE_MS);
    const behind = await registerWorker(db, { kinds: ['IDEA_GRILL'], concurrency: 1, version: 'test' });
    vi.useRealTimers();
    const ids = await claimedBy(behind, 1);
    await sweep(sweepDeps());
    expect(await statuses(ids)).toEqual(['RUNNING']);
  });

  it('is timed by Postgres from registration on: a worker whose clock runs ahead and dies before its first beat loses its jobs', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 3_600_000);
    const ahead = await registerWorker(db, { kinds: ['IDEA_GRILL'], concurrency: 1, version: 'test' });
    vi.useRealTimers();
    const ids = await claimedBy(ahead, 1);
    // It never beats; a lease later (by Postgres's clock: the claim is moved back instead of waiting).
    const registered = await db
      .selectFrom('workers')
      .select(sql<boolean>`heartbeat_at <= now()`.as('past'))
      .where('id', '=', ahead.workerId)
      .executeTakeFirstOrThrow();
    expect(registered.past).toBe(true);
    await sql`UPDATE workers SET heartbeat_at = heartbeat_at - ${2 * LEASE_MS} * interval '1 millisecond' WHERE id = ${ahead.workerId}`.execute(
      db,
    );
    await sql`UPDATE claude_jobs SET claimed_at = claimed_at - ${2 * LEASE_MS} * interval '1 millisecond' WHERE id = ANY(${ids}::uuid[])`.execute(
      db,
    );
    await sweep(sweepDeps());
    expect(await statuses(ids)).toEqual(['FAILED']);
  });

  it('counts a claim as a sign of life: a job claimed by a worker whose last beat is a lease old is not lost for a lease', async () => {
    const late = await registerWorker(db, { kinds: ['IDEA_GRILL'], concurrency: 2, version: 'test' });
    // Its beats stopped reaching Postgres (a connection hung, say); its claims still do.
    await sql`UPDATE workers SET heartbeat_at = now() - ${2 * LEASE_MS} * interval '1 millisecond' WHERE id = ${late.workerId}`.execute(db);
    const [id] = await claimedBy(late, 1);
    const [row] = await db.selectFrom('claude_jobs').select('claim_epoch').where('id', '=', id!).execute();
    const principal = { tokenId: '', ownerId: '', scopes: ['agent' as const], job: { id: id!, epoch: row!.claim_epoch } };

    await sweep(sweepDeps());
    expect(await statuses([id!])).toEqual(['RUNNING']);
    expect((await heldJob(db, principal, { leaseMs: LEASE_MS })).id).toBe(id);

    // A lease after the claim, with still no beat, the job is lost after all.
    await sql`UPDATE claude_jobs SET claimed_at = claimed_at - ${2 * LEASE_MS} * interval '1 millisecond' WHERE id = ${id}`.execute(db);
    await expect(heldJob(db, principal, { leaseMs: LEASE_MS })).rejects.toMatchObject({ code: 'job_token_expired' });
    await sweep(sweepDeps());
    expect(await statuses([id!])).toEqual(['FAILED']);
  });

  it('leaves no job held for ever that has neither a lease of its own nor a worker to hang from', async () => {
    const holder = await registerWorker(db, { kinds: ['IDEA_GRILL'], concurrency: 1, version: 'test' });
    const ids = await claimedBy(holder, 1);
    // A row whose holder nobody knows (written before claims named their worker, or by hand).
    await sql`UPDATE claude_jobs SET claimed_by_worker_id = NULL, claimed_at = claimed_at - ${2 * LEASE_MS} * interval '1 millisecond' WHERE id = ANY(${ids}::uuid[])`.execute(
      db,
    );
    await sweep(sweepDeps());
    const rows = await db.selectFrom('claude_jobs').select(['status', 'error']).where('id', 'in', ids).execute();
    expect(rows).toEqual([{ status: 'FAILED', error: expect.objectContaining({ code: 'worker_lost' }) }]);
  });
});
