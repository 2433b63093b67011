/**
 * Cancel signals over a Redis Cluster's pub/sub: the API publishes on the node its producer
 * reaches, the worker listens on another, and the cluster carries the message between them; when
 * the node a worker listens on dies, it listens on another. The heartbeat is made too slow to be
 * what stops the agent: a beat comes a minute apart, and the wait for the delivery to end gives
 * up after half of that, so a delivery that ends in it was stopped by the signal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDryRunExecutor } from '../../src/executors/dry-run.executor.js';
import { enqueueJobs } from '../../src/jobs/enqueue-jobs.js';
import { listenOn, publishOn } from '../../src/queues/fleet-channels.js';
import { createProducerConnection, createSubscriberConnection } from '../../src/queues/redis-connections.js';
import { startWorkerPool } from '../../src/workers/worker-pool.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { createDryRunGate } from '../helpers/dry-run-gate.js';
import { startRedisCluster } from '../helpers/redis-cluster.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

// A minute between heartbeats, twice the wait for a cancel to land: no lease renewal notices it in time.
const SIGNAL_WAIT_MS = 30_000;
const SLOW_HEARTBEAT = { HEARTBEAT_MS: String(2 * SIGNAL_WAIT_MS), LEASE_MS: String(6 * SIGNAL_WAIT_MS) };

let env: TestEnv;
let api: ApiHarness;
beforeAll(async () => {
  env = await createTestEnv(SLOW_HEARTBEAT);
  api = await createApiHarness(env);
});
afterAll(async () => {
  await api.close();
  await env.teardown();
});

/** Starts a held job on the pool's kind, cancels it over the API, and answers how its delivery ended. */
async function cancelARunningJob(env: TestEnv, api: ApiHarness): Promise<string | undefined> {
  const db = env.database.db;
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
  const entry = await waitFor(
    'the delivery to finish, stopped by the signal (no heartbeat comes this soon)',
    async () => {
      const fresh = await queue.getJob(job!.id);
      return fresh?.finishedOn ? fresh : undefined;
    },
    { timeoutMs: SIGNAL_WAIT_MS },
  );
  return entry.failedReason;
}

function startPool(env: TestEnv) {
  return startWorkerPool({
    config: env.config,
    db: env.database.db,
    logger: env.logger,
    executor: createDryRunExecutor(),
    kinds: ['IDEA_GRILL'],
    concurrency: 2,
    version: 'test',
  });
}

describe('a cancel on a cluster fleet', () => {
  it('reaches the worker running the job through the signal, and its agent stops cancelled', async () => {
    expect(env.redis.clusterNodes).not.toBeNull();
    const pool = await startPool(env);
    try {
      expect(await cancelARunningJob(env, api)).toMatch(/^cancelled: /);
    } finally {
      await pool.close(5_000);
    }
  });

  it('still reaches the worker after the node its subscription was on died', { timeout: 120_000 }, async () => {
    // A cluster of this test's own: it kills a node.
    const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    const own = await createTestEnv(SLOW_HEARTBEAT, { clusterNodes: cluster.nodesSetting });
    const ownApi = await createApiHarness(own);
    const pool = await startPool(own);
    try {
      const listening = await waitFor('the node the worker listens for cancels on', async () => {
        for (const node of cluster.nodes) {
          const clients = String(await cluster.command(node, 'CLIENT', 'LIST'));
          if (clients.split('\n').some((line) => line.includes('jobfleet-cancel-subscriber') && / s?sub=[1-9]/.test(line))) return node;
        }
        return undefined;
      });
      await cluster.kill(listening);
      await cluster.waitHealthy();
      expect(await cancelARunningJob(own, ownApi)).toMatch(/^cancelled: /);
    } finally {
      await pool.close(5_000);
      await ownApi.close();
      await own.teardown();
      await cluster.stop();
    }
  });
});

describe('a channel of the fleet on a cluster', () => {
  it("carries one publisher's messages in the order they were sent", async () => {
    const channel = `${env.prefix}:signals:order`;
    const subscriber = createSubscriberConnection(env.redis, env.logger, 'order-test');
    const publisher = createProducerConnection(env.redis, env.logger);
    try {
      const received: number[] = [];
      await listenOn(subscriber, channel, (message) => received.push(Number(message)));
      // A first message over the publisher's connection to the channel's node, as a fleet's
      // publishers have long made by the time order matters.
      await waitFor('the publisher to connect', () => publisher.status === 'ready');
      await publishOn(publisher, channel, '-1');
      await waitFor('the first message to arrive', () => received.length === 1);
      received.length = 0;
      // Sent back to back, as the event relay sends batch after batch.
      const sent = Array.from({ length: 500 }, (_, n) => n);
      await Promise.all(sent.map((n) => publishOn(publisher, channel, String(n))));
      await waitFor('every message to arrive', () => received.length === sent.length);
      expect(received).toEqual(sent);
    } finally {
      subscriber.disconnect();
      publisher.disconnect();
    }
  });
});
