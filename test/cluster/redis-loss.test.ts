/**
 * Postgres is the source of truth and Redis only transport, on a cluster too: when every master
 * loses everything, the sweeper puts every QUEUED job back (each to its own queue, on whichever
 * master serves that queue's slot) and the fleet finishes all of them. The single-server file
 * (test/pipeline/redis-loss.test.ts) restarts a server of its own; here FLUSHALL runs on a
 * cluster of this file's own, never on the shared one the other files use.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { type RedisClusterHandle, startRedisCluster } from '../helpers/redis-cluster.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

const JOBS = 300;

let cluster: RedisClusterHandle;
let env: TestEnv;
let api: ApiHarness;
beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  env = await createTestEnv({}, { clusterNodes: cluster.nodesSetting });
  api = await createApiHarness(env);
});
afterAll(async () => {
  await killAll();
  await api.close();
  await env.teardown();
  await cluster.stop();
});

describe('a Redis Cluster losing all its data', () => {
  // Longer than the waits inside it together (the processes' start, 30 s; the jobs, 60 s).
  it('loses no job: after FLUSHALL on every master with jobs of two kinds queued, every job still reaches done', {
    timeout: 120_000,
  }, async () => {
    const db = env.database.db;
    const product = await createProduct(db);
    // Two kinds, two queues, each under a hash tag of its own: the loss hits whichever masters hold them.
    const chats = await createIdeas(db, product, JOBS / 2, 'PLAN_READY');
    const grills = await createIdeas(db, product, JOBS / 2, 'DRAFT');
    const accepted = await api.call('POST', '/api/v1/jobs/batch', {
      jobs: [
        ...chats.map((idea_id) => ({ kind: 'plan_chat', idea_id, payload: { message: 'Anything to add?' } })),
        ...grills.map((idea_id) => ({ kind: 'idea_grill', idea_id })),
      ],
    });
    expect(accepted.status).toBe(202);
    const ids = (accepted.body.jobs as { id: string }[]).map((job) => job.id);
    expect(await api.queues.queue('PLAN_CHAT').getPrioritizedCount()).toBe(JOBS / 2);
    expect(await api.queues.queue('IDEA_GRILL').getPrioritizedCount()).toBe(JOBS / 2);

    await cluster.flushAll();
    for (const master of await cluster.masters()) expect(await cluster.command(master, 'DBSIZE')).toBe(0);
    expect(await api.queues.missing(await db.selectFrom('claude_jobs').selectAll().where('id', 'in', ids).execute())).toHaveLength(JOBS);

    const sweeper = spawnJobfleet(['sweeper'], env.env);
    const worker = spawnJobfleet(['worker', '--kinds', 'plan_chat,idea_grill', '--concurrency', '50'], env.env);
    await Promise.all([sweeper.line(/sweeper running/), worker.line(/jobfleet worker \S+ running/)]);

    const settled = await waitFor(
      'every job to be done (or one to end otherwise)',
      async () => {
        const counts = Object.fromEntries(
          (
            await db
              .selectFrom('claude_jobs')
              .select(['status', sql<number>`count(*)::int`.as('count')])
              .where('id', 'in', ids)
              .groupBy('status')
              .execute()
          ).map((row) => [row.status, row.count]),
        );
        const ended = Object.keys(counts).some((status) => ['FAILED', 'CANCELLED', 'SKIPPED'].includes(status));
        return counts.DONE === JOBS || ended ? counts : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(settled).toEqual({ DONE: JOBS });
    const jobs = await db.selectFrom('claude_jobs').select('attempt_count').where('id', 'in', ids).execute();
    expect(jobs.every((job) => job.attempt_count === 1)).toBe(true);
    const logs = await db
      .selectFrom('idea_logs')
      .select('type')
      .where('idea_id', 'in', [...chats, ...grills])
      .where('type', 'in', ['CHAT_REPLY', 'GRILL_RESULT'])
      .execute();
    expect(logs.filter((log) => log.type === 'CHAT_REPLY')).toHaveLength(JOBS / 2);
    expect(logs.filter((log) => log.type === 'GRILL_RESULT')).toHaveLength(JOBS / 2);
  });
});
