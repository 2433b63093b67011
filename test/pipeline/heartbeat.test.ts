/**
 * The heartbeat renews every lease of a worker in one statement, while the worker's own batches
 * (claims, outcomes, each one transaction for many jobs) move the same rows. Batches lock their
 * rows in id order (src/transitions/transition.ts); a heartbeat that locked them in any other
 * order could deadlock with one, and Postgres would end either the batch or the heartbeat after
 * its deadlock timeout: a lost batch of outcomes, or a second without renewed leases.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimJobs, leaseOf } from '../../src/jobs/claim-jobs.js';
import { insertJobs } from '../../src/jobs/enqueue-jobs.js';
import { startHeartbeat } from '../../src/workers/heartbeat.js';
import { RunningJobs } from '../../src/workers/running-jobs.js';
import { registerWorker } from '../../src/workers/worker-registry.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env.teardown();
});

/** The first and the last id there can be: the order every batch locks these two jobs in. */
const LOW = '00000000-0000-4000-8000-000000000001';
const HIGH = 'ffffffff-ffff-4fff-bfff-fffffffffffe';

describe('the heartbeat', () => {
  it('renews its leases in id order, so a batch moving the same jobs waits for it or it for the batch, and neither is ended as a deadlock', async () => {
    const db = env.database.db;
    const product = await createProduct(db);
    const [first, second] = await createIdeas(db, product, 2, 'DRAFT');
    const worker = await registerWorker(db, { kinds: ['IDEA_GRILL'], concurrency: 2, version: 'test' });
    // HIGH comes first everywhere but in id order: inserted and claimed first (so it lies first
    // in the table) and running first (so it comes first in the heartbeat's list of leases).
    const running = new RunningJobs();
    for (const [id, idea] of [
      [HIGH, first!],
      [LOW, second!],
    ] as const) {
      await db.transaction().execute((trx) => insertJobs(trx, [{ id, kind: 'IDEA_GRILL', subjectId: idea }], { actorTokenId: null }));
    }
    for (const id of [HIGH, LOW]) {
      const { claimed } = await db.transaction().execute((trx) => claimJobs(trx, [id], worker, { leaseMs: 60_000, start: true }));
      running.add(leaseOf(claimed[0]!));
    }
    // Beats only when told to, with leases far longer than the claims gave.
    const heartbeat = startHeartbeat({ db, identity: worker, running, intervalMs: 3_600_000, leaseMs: 600_000, logger: env.logger });

    try {
      // A batch that moves both jobs, as every batch does: LOW, then HIGH. The heartbeat beats
      // between the two, and must wait for LOW without holding HIGH.
      await db.transaction().execute(async (trx) => {
        await trx.updateTable('claude_jobs').set({ updated_at: new Date() }).where('id', '=', LOW).execute();
        void heartbeat.beat();
        await waitFor('the heartbeat to wait for the batch', async () => {
          const { rows } = await sql<{ waiting: number }>`
            SELECT count(*)::int AS waiting FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%lease_expires_at%'
          `.execute(db);
          return rows[0]!.waiting > 0;
        });
        await trx.updateTable('claude_jobs').set({ updated_at: new Date() }).where('id', '=', HIGH).execute();
      });
      await heartbeat.stop();

      const leases = await db
        .selectFrom('claude_jobs')
        .select(['id', 'status', sql<boolean>`lease_expires_at > now() + interval '5 minutes'`.as('renewed')])
        .where('id', 'in', [LOW, HIGH])
        .orderBy('id')
        .execute();
      expect(leases).toEqual([
        { id: LOW, status: 'RUNNING', renewed: true },
        { id: HIGH, status: 'RUNNING', renewed: true },
      ]);
    } finally {
      await heartbeat.stop();
    }
  });
});
