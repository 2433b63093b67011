/**
 * Reconcile's marks on a Redis Cluster: one per queue, in the queue's own hash slot, so every
 * master holding a queue holds that queue's mark, and a loss on any one of them (its queue's mark
 * gone) brings the full check, while a sweep with every mark in place looks only at what is new.
 * A failover (a master's run id changing) is test/cluster/failover.test.ts.
 */
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SweepDeps, sweep } from '../../src/sweeper/sweep.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { masterAddressOf } from '../helpers/redis-cluster.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let api: ApiHarness;
beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
});
afterAll(async () => {
  await api.close();
  await env.teardown();
});

const deps = (): SweepDeps => ({
  db: env.database.db,
  queues: api.queues,
  logger: env.logger,
  leaseMs: 60_000,
  staleClaimMs: 3_600_000,
  maxRetries: 2,
  reconcileGraceMs: 0,
  reconcileSlackMs: 0,
});

describe('reconcile on a cluster', () => {
  it('keeps a mark in each queue slot, and checks every QUEUED job when any one of them is gone', async () => {
    expect(env.redis.clusterNodes).not.toBeNull();
    const db = env.database.db;
    const product = await createProduct(db);
    const grills = await createIdeas(db, product, 3, 'DRAFT');
    const chats = await createIdeas(db, product, 3, 'PLAN_READY');
    const reply = await api.call('POST', '/api/v1/jobs/batch', {
      jobs: [
        ...grills.map((idea_id) => ({ kind: 'idea_grill', idea_id })),
        ...chats.map((idea_id) => ({ kind: 'plan_chat', idea_id, payload: { message: 'Anything to add?' } })),
      ],
    });
    expect(reply.status).toBe(202);
    const [grill] = (reply.body.jobs as { id: string }[]).map((job) => job.id);

    expect(await sweep(deps())).toMatchObject({ fullCheck: 'mark_missing', readded: 0 });
    const client = api.queues.connection as Cluster;
    for (const queue of api.queues.all()) {
      const mark = queue.toKey('jobfleet-reconciled');
      expect(await client.get(mark)).not.toBeNull();
      expect(Number(await client.call('CLUSTER', 'KEYSLOT', mark))).toBe(
        Number(await client.call('CLUSTER', 'KEYSLOT', queue.toKey('wait'))),
      );
    }
    // The two kinds' queues lie on different masters here, so the test below takes a mark from one master only.
    const chatQueue = api.queues.queue('PLAN_CHAT');
    const grillQueue = api.queues.queue('IDEA_GRILL');
    expect(await masterAddressOf(client, chatQueue.toKey('wait'))).not.toBe(await masterAddressOf(client, grillQueue.toKey('wait')));

    await grillQueue.remove(grill!);
    expect(await sweep(deps())).toMatchObject({ fullCheck: null, readded: 0 });
    expect(await grillQueue.getJob(grill!)).toBeUndefined();

    // Another master's loss: only the chat queue's mark goes, and every QUEUED job is checked.
    await client.del(chatQueue.toKey('jobfleet-reconciled'));
    expect(await sweep(deps())).toMatchObject({ fullCheck: 'mark_missing', readded: 1 });
    expect(await grillQueue.getJob(grill!)).toBeDefined();
    expect(await sweep(deps())).toMatchObject({ fullCheck: null, readded: 0 });
  });
});
