/**
 * A job's trace context outlives its delivery: a retry made after its worker was lost carries the
 * trace of the job it retries, and a job enqueued while tracing was off stays without one (the
 * column is left out of the retry's insert). This process does not trace: it never writes one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failLostJobs } from '../../src/jobs/retry-jobs.js';
import { deregisterWorker, registerWorker, type WorkerIdentity } from '../../src/workers/worker-registry.js';
import { claimedGrillJobs } from '../helpers/leased-jobs.js';
import { createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

const TRACE = JSON.stringify({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
let env: TestEnv;
let worker: WorkerIdentity;

beforeAll(async () => {
  env = await createTestEnv();
  worker = await registerWorker(env.database.db, { kinds: ['IDEA_GRILL'], concurrency: 2, version: 'test' });
});
afterAll(async () => {
  await deregisterWorker(env.database.db, worker);
  await env.teardown();
});

describe("a job's trace context", () => {
  it('is not written by a process that does not trace, and is carried by a retry after the worker was lost', async () => {
    const db = env.database.db;
    const [traced, untraced] = await claimedGrillJobs(db, await createProduct(db), worker, 2);
    expect([traced!.trace_context, untraced!.trace_context]).toEqual([null, null]);
    // As a traced API would have left it at the enqueue.
    const [stored] = await db
      .updateTable('claude_jobs')
      .set({ trace_context: TRACE })
      .where('id', '=', traced!.id)
      .returningAll()
      .execute();

    const { retries } = await db.transaction().execute((trx) =>
      failLostJobs(trx, [stored!, untraced!], {
        trigger: 'worker_lost',
        error: { code: 'worker_lost', message: 'the worker stopped renewing its lease' },
        maxRetries: 2,
        actorTokenId: null,
      }),
    );
    const byOrigin = new Map(retries.map((retry) => [retry.retry_of_job_id, retry]));
    expect(byOrigin.get(traced!.id)?.trace_context).toBe(TRACE);
    expect(byOrigin.get(untraced!.id)?.trace_context).toBeNull();
  });
});
