/**
 * Cancel signals over a Redis Cluster's pub/sub: the API publishes on the node its producer
 * reaches, the worker listens on another, and the cluster carries the message between them. The
 * heartbeat is made too slow to be what stops the agent, so a job that ends `cancelled` was
 * stopped by the signal, not found out at lease renewal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDryRunExecutor } from '../../src/executors/dry-run.executor.js';
import { enqueueJobs } from '../../src/jobs/enqueue-jobs.js';
import { startWorkerPool } from '../../src/workers/worker-pool.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { createDryRunGate } from '../helpers/dry-run-gate.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

let env: TestEnv;
let api: ApiHarness;
beforeAll(async () => {
  // A minute between heartbeats: no lease renewal can notice the cancel within the test.
  env = await createTestEnv({ HEARTBEAT_MS: '60000', LEASE_MS: '180000' });
  api = await createApiHarness(env);
});
afterAll(async () => {
  await api.close();
  await env.teardown();
});

describe('a cancel on a cluster fleet', () => {
  it('reaches the worker running the job through the signal, and its agent stops cancelled', async () => {
    expect(env.redis.clusterNodes).not.toBeNull();
    const db = env.database.db;
    const pool = await startWorkerPool({
      config: env.config,
      db,
      logger: env.logger,
      executor: createDryRunExecutor(),
      kinds: ['IDEA_GRILL'],
      concurrency: 2,
      version: 'test',
    });
    try {
      const [idea] = await createIdeas(db, await createProduct(db), 1, 'DRAFT', `Held ${createDryRunGate().marker}`);
      const [job] = await enqueueJobs({ db, queues: api.queues, logger: env.logger }, [{ kind: 'IDEA_GRILL', subjectId: idea! }], {
        actorTokenId: null,
      });
      await waitFor(
        'the job to run',
        async () =>
          (await db.selectFrom('claude_jobs').select('status').where('id', '=', job!.id).executeTakeFirstOrThrow()).status === 'RUNNING',
      );
      expect((await api.call('POST', `/api/v1/jobs/${job!.id}/cancel`, {})).status).toBe(200);

      const queue = api.queues.queue('IDEA_GRILL');
      const entry = await waitFor('the delivery to finish', async () => {
        const fresh = await queue.getJob(job!.id);
        return fresh?.finishedOn ? fresh : undefined;
      });
      expect(entry.failedReason).toMatch(/^cancelled: /);
    } finally {
      await pool.close(5_000);
    }
  });
});
