/**
 * A kind split over several queues (QUEUE_SHARDS) on a Redis Cluster: each queue under a hash
 * tag of its own, so the kind's load lands on more than one master, and the kind's workers serve
 * every queue of it, each job once.
 */
import type { Cluster } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { masterAddressOf } from '../helpers/redis-cluster.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

const SHARDS = 3;
const JOBS = 60;

let env: TestEnv;
let api: ApiHarness;
beforeAll(async () => {
  env = await createTestEnv({ QUEUE_SHARDS: `idea_grill=${SHARDS}` });
  api = await createApiHarness(env);
});
afterAll(async () => {
  await killAll();
  await api.close();
  await env.teardown();
});

describe('a kind split over several queues on a cluster', () => {
  it('spreads its queues over more than one master, and every job is served exactly once', async () => {
    expect(env.redis.clusterNodes).not.toBeNull();
    const db = env.database.db;
    const shards = api.queues.queuesOf('IDEA_GRILL');
    expect(shards.map((queue) => queue.name)).toEqual(['idea_grill', 'idea_grill-2', 'idea_grill-3']);

    // Where each queue's keys live, as the cluster itself answers.
    const client = api.queues.connection as Cluster;
    const masters = await Promise.all(shards.map((queue) => masterAddressOf(client, queue.toKey('prioritized'))));
    expect(new Set(masters).size).toBeGreaterThan(1);

    const workers = [1, 2].map(() => spawnJobfleet(['worker', '--kinds', 'idea_grill', '--concurrency', '6'], env.env));
    await Promise.all(workers.map((worker) => worker.line(/jobfleet worker \S+ running/)));

    const ideas = await createIdeas(db, await createProduct(db), JOBS, 'DRAFT');
    const response = await api.call('POST', '/api/v1/jobs/batch', { jobs: ideas.map((idea_id) => ({ kind: 'idea_grill', idea_id })) });
    expect(response.status).toBe(202);
    const ids = (response.body.jobs as { id: string }[]).map((job) => job.id);

    await waitFor('every job to be done', async () => {
      const rows = await db.selectFrom('claude_jobs').select('status').where('id', 'in', ids).execute();
      return rows.every((row) => row.status === 'DONE');
    });

    // Each job's delivery completed in its own queue, and in no other; every queue had some.
    const served = new Map<string, number>();
    for (const id of ids) {
      const own = api.queues.queueOf({ id, kind: 'IDEA_GRILL' });
      const entry = await own.getJob(id);
      expect(await entry?.getState()).toBe('completed');
      expect(entry?.returnvalue).toBe('DONE');
      for (const other of shards.filter((queue) => queue !== own)) expect(await other.getJob(id)).toBeUndefined();
      served.set(own.name, (served.get(own.name) ?? 0) + 1);
    }
    expect([...served.keys()].sort()).toEqual(shards.map((queue) => queue.name).sort());

    const done = await db
      .selectFrom('transitions')
      .select(['entity_id', sql<number>`count(*)::int`.as('count')])
      .where('entity_id', 'in', ids)
      .where('from_status', '=', 'RUNNING')
      .where('to_status', '=', 'DONE')
      .groupBy('entity_id')
      .execute();
    expect(done).toHaveLength(JOBS);
    expect(done.every((row) => row.count === 1)).toBe(true);
    const attempts = await db.selectFrom('claude_jobs').select('attempt_count').where('id', 'in', ids).execute();
    expect(attempts.every((row) => row.attempt_count === 1)).toBe(true);
  });
});
