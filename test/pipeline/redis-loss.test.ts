/**
 * Postgres is the source of truth and Redis only transport: when Redis loses everything, the
 * sweeper puts every QUEUED job back and the fleet finishes all of them. This file runs its own
 * Redis server, because FLUSHALL on the shared one would wipe every other test file's queues.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import { type ClaudeJobStatus, claudeJobMachine } from '../../src/machines/index.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { type PrivateRedis, startPrivateRedis } from '../helpers/redis-server.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

let redis: PrivateRedis;
let env: TestEnv;
let api: ApiHarness;
beforeAll(async () => {
  redis = await startPrivateRedis();
  env = await createTestEnv({}, { redisUrl: redis.url });
  api = await createApiHarness(env);
});
afterAll(async () => {
  await killAll();
  await api.close();
  await env.teardown();
  await redis.stop();
});

describe('a Redis restart', () => {
  it('is outlived by a worker: it reconnects on its own and takes the jobs enqueued afterwards', async () => {
    const db = env.database.db;
    const product = await createProduct(db);
    const worker = spawnJobfleet(['worker', '--kinds', 'plan_chat'], env.env);
    await worker.line(/jobfleet worker \S+ running/);

    await redis.stop();
    await redis.start();
    const producer = api.queues.queue('PLAN_CHAT').opts.connection as { status: string };
    await waitFor("the API's producer connection to come back", () => producer.status === 'ready');

    const ideas = await createIdeas(db, product, 20, 'PLAN_READY');
    const accepted = await api.call('POST', '/api/v1/jobs/batch', {
      jobs: ideas.map((idea_id) => ({ kind: 'plan_chat', idea_id, payload: { message: 'Still there?' } })),
    });
    expect(accepted.status).toBe(202);
    const ids = accepted.body.jobs.map((job: { id: string }) => job.id);
    await waitFor('the jobs to be done', async () => {
      const rows = await db.selectFrom('claude_jobs').select('status').where('id', 'in', ids).execute();
      return rows.every((row) => row.status === 'DONE');
    });
    expect(worker.child.exitCode).toBeNull();
    worker.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
  });
});

describe('Redis losing all its data', () => {
  // Longer than the waits inside it together (both processes' start, 30 s; the jobs, 60 s), so
  // that a stall fails in waitForEveryJobDone, naming the jobs left and their statuses.
  it('loses no job: after FLUSHALL with 500 jobs queued, every job still reaches done', { timeout: 120_000 }, async () => {
    const db = env.database.db;
    const product = await createProduct(db);
    const ideas = await createIdeas(db, product, 500, 'PLAN_READY');
    const before = (await db.selectFrom('claude_jobs').select('id').execute()).length;
    const accepted = await api.call('POST', '/api/v1/jobs/batch', {
      jobs: ideas.map((idea_id) => ({ kind: 'plan_chat', idea_id, payload: { message: 'Anything to add?' } })),
    });
    expect(accepted.status).toBe(202);
    const queue = api.queues.queue('PLAN_CHAT');
    // Every job waits in its owner's turn (a BullMQ priority).
    expect(await queue.getPrioritizedCount()).toBe(500);

    const client = redis.client();
    expect(await client.flushall()).toBe('OK');
    expect(await client.dbsize()).toBe(0);

    // Both start at once: their start (seconds of module loading each, many more on a busy
    // machine) is most of this test's time, and neither needs the other to be up.
    const sweeper = spawnJobfleet(['sweeper'], env.env);
    const worker = spawnJobfleet(['worker', '--kinds', 'plan_chat', '--concurrency', '50'], env.env);
    await Promise.all([sweeper.line(/sweeper running/), worker.line(/jobfleet worker \S+ running/)]);

    await waitForEveryJobDone(db, 60_000);
    const jobs = await db.selectFrom('claude_jobs').select(['status', 'attempt_count']).where('idea_id', 'in', ideas).execute();
    expect(jobs).toHaveLength(500);
    expect((await db.selectFrom('claude_jobs').select('id').execute()).length).toBe(before + 500);
    expect(jobs.every((job) => job.status === 'DONE' && job.attempt_count === 1)).toBe(true);
    const replies = await db.selectFrom('idea_logs').select('id').where('type', '=', 'CHAT_REPLY').where('idea_id', 'in', ideas).execute();
    expect(replies).toHaveLength(500);
  });
});

/**
 * Waits until every job is done. It stops early when a job ended otherwise (a FAILED job never
 * becomes DONE), and when it gives up it says how many jobs are left in which status, with a few
 * of them, rather than only that the time ran out.
 */
async function waitForEveryJobDone(db: Db, timeoutMs: number): Promise<void> {
  let open: { status: ClaudeJobStatus; count: number }[] = [];
  let why = 'a job ended other than done';
  try {
    await waitFor(
      'every job to be done',
      async () => {
        open = await db
          .selectFrom('claude_jobs')
          .select(['status', sql<number>`count(*)::int`.as('count')])
          .where('status', '<>', 'DONE')
          .groupBy('status')
          .execute();
        return open.length === 0 || open.some(({ status }) => claudeJobMachine.isTerminal(status));
      },
      { timeoutMs, intervalMs: 250 },
    );
  } catch (error) {
    why = (error as Error).message;
  }
  if (open.length === 0) return;
  const some = await db
    .selectFrom('claude_jobs')
    .select(['id', 'status', 'attempt_count', 'requeue_count', 'error'])
    .where('status', '<>', 'DONE')
    .orderBy('status')
    .limit(5)
    .execute();
  throw new Error(`${why}; jobs not done, by status: ${JSON.stringify(open)}; some of them: ${JSON.stringify(some)}`);
}
