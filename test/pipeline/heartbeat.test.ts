/**
 * The heartbeat writes the worker's own row, the lease its jobs hang from, and only reads the
 * jobs: holding many agents costs one row version a beat, not one per job. Reading them is how a
 * worker learns that a job is no longer its own (cancelled, requeued, failed by the sweeper) when
 * no signal told it, and it does so without a lock, so a beat neither waits for the worker's own
 * batches of claims and outcomes nor makes them wait.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import { cancelJob } from '../../src/jobs/cancel-job.js';
import { leaseOf } from '../../src/jobs/claim-jobs.js';
import { type Heartbeat, startHeartbeat } from '../../src/workers/heartbeat.js';
import { RunningJobs } from '../../src/workers/running-jobs.js';
import { registerWorker, type WorkerIdentity } from '../../src/workers/worker-registry.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { claimedGrillJobs } from '../helpers/leased-jobs.js';
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
afterAll(async () => {
  await api.close();
  await env.teardown();
});

/** A worker holding `count` running grill jobs on its own lease, as a worker process claims them. */
async function holding(count: number): Promise<{
  worker: WorkerIdentity;
  ids: string[];
  agents: Map<string, AbortController>;
  heartbeat: Heartbeat;
}> {
  const worker = await registerWorker(db, { kinds: ['IDEA_GRILL'], concurrency: count, version: 'test' });
  const claimed = await claimedGrillJobs(db, product, worker, count);
  const ids = claimed.map((job) => job.id);
  const running = new RunningJobs();
  const agents = new Map(claimed.map((job) => [job.id, running.add(leaseOf(job)).controller]));
  // Beats only when told to.
  const heartbeat = startHeartbeat({ db, identity: worker, running, intervalMs: 3_600_000, logger: env.logger });
  return { worker, ids, agents, heartbeat };
}

/** Each row's version: a new one for every write. */
async function versions(table: 'claude_jobs' | 'workers', ids: string[]): Promise<Map<string, string>> {
  const { rows } = await sql<{ id: string; xmin: string }>`
    SELECT id, xmin::text AS xmin FROM ${sql.table(table)} WHERE id = ANY(${ids}::uuid[])
  `.execute(db);
  return new Map(rows.map((row) => [row.id, row.xmin]));
}

describe('the heartbeat', () => {
  it('writes one row a beat however many jobs the worker runs: the jobs keep their row versions, the worker gets a new one', async () => {
    const { worker, ids, agents, heartbeat } = await holding(40);
    try {
      const jobsBefore = await versions('claude_jobs', ids);
      const workerBefore = await versions('workers', [worker.workerId]);
      await heartbeat.beat();
      await heartbeat.beat();
      expect(await versions('claude_jobs', ids)).toEqual(jobsBefore);
      expect((await versions('workers', [worker.workerId])).get(worker.workerId)).not.toBe(workerBefore.get(worker.workerId));
      const rows = await db.selectFrom('claude_jobs').select(['status', 'lease_expires_at']).where('id', 'in', ids).execute();
      expect(rows.every((row) => row.status === 'RUNNING' && row.lease_expires_at === null)).toBe(true);
      expect([...agents.values()].some((agent) => agent.signal.aborted)).toBe(false);
    } finally {
      await heartbeat.stop();
    }
  });

  it('takes no lock on its jobs: it beats while a batch holds their rows locked', async () => {
    const { ids, heartbeat } = await holding(2);
    try {
      const beatAt = await db.transaction().execute(async (trx) => {
        await sql`SELECT id FROM claude_jobs WHERE id = ANY(${ids}::uuid[]) FOR UPDATE`.execute(trx);
        // Were the beat to wait for these rows, it would wait for this transaction, which waits for it.
        await heartbeat.beat();
        const { rows } = await sql<{ at: Date }>`SELECT now() AS at`.execute(trx);
        return rows[0]!.at;
      });
      expect(beatAt).toBeInstanceOf(Date);
    } finally {
      await heartbeat.stop();
    }
  });

  it('aborts, at its next beat, the agent of a job cancelled while it ran, though no cancel signal reached the worker', async () => {
    const { ids, agents: controllers, heartbeat } = await holding(3);
    const [cancelled, kept] = ids;
    try {
      // The signal is lost on the way (Redis down, the worker resubscribing): only the beat can tell.
      await cancelJob({ db, queues: api.queues, signals: { publishCancel: async () => {} } }, cancelled!, { actorTokenId: null });
      expect(controllers.get(cancelled!)!.signal.aborted).toBe(false);
      await heartbeat.beat();
      expect(controllers.get(cancelled!)!.signal.aborted).toBe(true);
      expect(controllers.get(cancelled!)!.signal.reason).toBe('lease_lost');
      expect(controllers.get(kept!)!.signal.aborted).toBe(false);
    } finally {
      await heartbeat.stop();
    }
  });

  it('aborts the agent of a job claimed again under a newer epoch, and leaves its other jobs running', async () => {
    const { ids, agents: controllers, heartbeat } = await holding(2);
    const [taken, kept] = ids;
    try {
      // The sweeper requeued the job and another worker holds it now.
      await sql`UPDATE claude_jobs SET claim_epoch = claim_epoch + 1 WHERE id = ${taken}`.execute(db);
      await heartbeat.beat();
      expect(controllers.get(taken!)!.signal.aborted).toBe(true);
      expect(controllers.get(kept!)!.signal.aborted).toBe(false);
    } finally {
      await heartbeat.stop();
    }
  });
});
