/**
 * The sweep's reconcile and supersede steps look at what changed since the last sweep, and at
 * every QUEUED job only when Redis may have lost data or a full check is due: a job seen at the
 * last check whose entry is removed by hand stays missing until the full check, a job new to
 * QUEUED (created or requeued) is checked at once, a lost mark, a changed run id or a FLUSHALL
 * brings the full check. A Redis server of this file's own: it is restarted and flushed.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Redis as IORedis, type Redis } from 'ioredis';
import { UnrecoverableError, Worker } from 'bullmq';
import { claudeJobMachine } from '../../src/machines/index.js';
import { bullJobId } from '../../src/queues/job-queues.js';
import { type SweepDeps, sweep } from '../../src/sweeper/sweep.js';
import { skipSuperseded } from '../../src/sweeper/superseded-jobs.js';
import { transitionMany } from '../../src/transitions/index.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { inTrx, planChatJob } from '../helpers/fixtures.js';
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
  await api?.close();
  await env?.teardown();
  await redis?.stop();
});

/** No grace and no slack: whatever committed before a sweep counts as seen by it. */
const deps = (more: Partial<SweepDeps> = {}): SweepDeps => ({
  db: env.database.db,
  queues: api.queues,
  logger: env.logger,
  leaseMs: 60_000,
  staleClaimMs: 3_600_000,
  maxRetries: 2,
  reconcileGraceMs: 0,
  reconcileSlackMs: 0,
  ...more,
});

const grillQueue = () => api.queues.queue('IDEA_GRILL');

async function enqueueGrills(count: number): Promise<string[]> {
  const db = env.database.db;
  const ideas = await createIdeas(db, await createProduct(db), count, 'DRAFT');
  const reply = await api.call('POST', '/api/v1/jobs/batch', { jobs: ideas.map((idea_id) => ({ kind: 'idea_grill', idea_id })) });
  expect(reply.status).toBe(202);
  return (reply.body.jobs as { id: string }[]).map((job) => job.id);
}

/** Whether the job's current delivery is in Redis. */
async function inRedis(id: string): Promise<boolean> {
  const job = await env.database.db
    .selectFrom('claude_jobs')
    .select(['id', 'kind', 'requeue_count'])
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  return (await api.queues.queueOf(job).getJob(bullJobId(job))) !== undefined;
}

/**
 * Fails the grill queue's deliveries for good, as a worker cut off from Postgres does once their
 * attempts run out, until `done` holds.
 */
async function failDeliveries(what: string, done: () => Promise<boolean>): Promise<void> {
  const queue = grillQueue();
  const connection = new IORedis(redis.url, { maxRetriesPerRequest: null });
  const worker = new Worker(
    queue.name,
    async () => {
      throw new UnrecoverableError('Postgres is out of reach');
    },
    { connection, prefix: queue.opts.prefix },
  );
  try {
    await waitFor(what, done);
  } finally {
    await worker.close();
    await connection.quit();
  }
}

const markKeys = () => api.queues.all().map((queue) => queue.toKey('jobfleet-reconciled'));

const producerStatus = () => (api.queues.connection as Redis).status;

beforeEach(async () => {
  // Each test starts from a fleet whose every QUEUED job was checked: nothing queued, marks in place.
  await env.database.db.transaction().execute(async (trx) => {
    const queued = await trx.selectFrom('claude_jobs').select('id').where('status', '=', 'QUEUED').execute();
    await transitionMany(
      trx,
      claudeJobMachine,
      queued.map(({ id }) => ({ id, from: 'QUEUED' as const, to: 'CANCELLED' as const, trigger: 'user_cancels' })),
    );
  });
  await sweep(deps());
});

describe('reconcile without a loss of Redis', () => {
  it('leaves a job seen at the last check alone when its entry is removed by hand, and adds it at the full check', async () => {
    const [id] = await enqueueGrills(1);
    expect((await sweep(deps())).fullCheck).toBeNull();
    await grillQueue().remove(id!);
    expect(await inRedis(id!)).toBe(false);

    // No sign of a loss: the job entered QUEUED before the last check, so it is not looked at.
    const incremental = await sweep(deps());
    expect(incremental).toMatchObject({ fullCheck: null, readded: 0 });
    expect(await inRedis(id!)).toBe(false);

    // The full check is due (at once, here): every QUEUED job is looked at.
    const full = await sweep(deps({ reconcileFullIntervalMs: 0 }));
    expect(full).toMatchObject({ fullCheck: 'due', readded: 1 });
    expect(await inRedis(id!)).toBe(true);
  });

  it('adds a job created since the last check whose add never happened', async () => {
    const [id] = await enqueueGrills(1);
    await grillQueue().remove(id!);
    expect(await sweep(deps())).toMatchObject({ fullCheck: null, readded: 1 });
    expect(await inRedis(id!)).toBe(true);
  });

  it('adds a job requeued since the last check, however old the job, whose add never happened', async () => {
    const [id] = await enqueueGrills(1);
    await sweep(deps());
    // Claimed, then requeued (as a stale claim is) without the add that follows the commit.
    await inTrx(env.database.db, async (trx) => {
      await transitionMany(trx, claudeJobMachine, [{ id: id!, from: 'QUEUED', to: 'CLAIMED' }]);
      await transitionMany(trx, claudeJobMachine, [{ id: id!, from: 'CLAIMED', to: 'QUEUED', set: { requeue_count: 1 } }]);
    });
    expect(await inRedis(id!)).toBe(false);
    expect(await sweep(deps())).toMatchObject({ fullCheck: null, readded: 1 });
    expect(await grillQueue().getJob(`${id}-r1`)).toBeDefined();
  });

  it('leaves a job younger than the grace to its own add, and adds it at a later sweep', async () => {
    const [id] = await enqueueGrills(1);
    await grillQueue().remove(id!);
    expect(await sweep(deps({ reconcileGraceMs: 3_600_000 }))).toMatchObject({ fullCheck: null, readded: 0 });
    // The position did not pass it: once older than the grace, it is found.
    expect(await sweep(deps())).toMatchObject({ fullCheck: null, readded: 1 });
  });
  it('adds a job checked before whose delivery BullMQ gave up on since the last check', async () => {
    const [id] = await enqueueGrills(1);
    await sweep(deps());
    // As a worker cut off from Postgres fails its claims until the delivery's attempts run out.
    const queue = grillQueue();
    await failDeliveries('the delivery to fail', async () => (await queue.getJobState(id!)) === 'failed');
    const incremental = await sweep(deps());
    expect(incremental).toMatchObject({ fullCheck: null, readded: 1 });
    expect(['waiting', 'prioritized']).toContain(await queue.getJobState(id!));
    // Seen once: the next check starts after it.
    expect(await sweep(deps())).toMatchObject({ fullCheck: null, readded: 0 });
  });

  it('checks every QUEUED job when BullMQ may have trimmed deliveries it gave up on since the last check', async () => {
    const queue = grillQueue();
    // Only this test's deliveries in the queue (earlier tests' cancelled jobs leave theirs).
    await queue.drain(true);
    await queue.clean(0, 0, 'failed');
    const ids = await enqueueGrills(3);
    await sweep(deps());
    await failDeliveries('the deliveries to fail', async () => (await queue.getFailedCount()) === ids.length);
    // More deliveries failed than BullMQ keeps (KEEP_FAILED, 2 here): the oldest failed one was
    // trimmed away, as removeOnFail does, and no trace of it is left for the incremental check.
    const [oldest] = await queue.getJobs(['failed'], 0, 0, true);
    await oldest!.remove();
    expect(await queue.getFailedCount()).toBe(2);
    const check = await sweep(deps({ keepFailed: 2 }));
    expect(check).toMatchObject({ fullCheck: 'given_up_trimmed', readded: ids.length });
    for (const id of ids) expect(await inRedis(id)).toBe(true);
  });
});

describe('reconcile after Redis may have lost data', () => {
  it('checks every QUEUED job when a mark is gone', async () => {
    const ids = await enqueueGrills(3);
    await sweep(deps());
    for (const id of ids) await grillQueue().remove(id);
    // One queue's mark is enough: its master may be the one that lost data.
    await api.queues.connection.del(grillQueue().toKey('jobfleet-reconciled'));
    expect(await sweep(deps())).toMatchObject({ fullCheck: 'mark_missing', readded: 3 });
    expect(await sweep(deps())).toMatchObject({ fullCheck: null, readded: 0 });
  });

  it('checks every QUEUED job when the run id of Redis changed, even with its marks in place', async () => {
    const ids = await enqueueGrills(2);
    await sweep(deps());
    const keys = markKeys();
    const marks = await Promise.all(keys.map((key) => api.queues.connection.get(key)));
    expect(marks.every((mark) => mark !== null)).toBe(true);

    await redis.stop();
    await redis.start();
    await waitFor('the producer connection to come back', async () => producerStatus() === 'ready', { timeoutMs: 15_000 });
    // The marks as they were, on a server with another run id (a failover's promoted replica).
    for (const [index, key] of keys.entries()) await api.queues.connection.set(key, marks[index]!);

    expect(await sweep(deps())).toMatchObject({ fullCheck: 'run_id_changed', readded: ids.length });
    for (const id of ids) expect(await inRedis(id)).toBe(true);
    expect(await sweep(deps())).toMatchObject({ fullCheck: null, readded: 0 });
  });

  it('puts every QUEUED job back in one sweep after FLUSHALL', async () => {
    const ids = await enqueueGrills(50);
    await sweep(deps());
    await api.queues.connection.flushall();
    expect(await sweep(deps())).toMatchObject({ fullCheck: 'mark_missing', readded: ids.length });
    for (const id of ids) expect(await inRedis(id)).toBe(true);
  });

  it('puts back a backlog larger than a page of the full check, every job once', async () => {
    const ids = [...(await enqueueGrills(1000)), ...(await enqueueGrills(1000)), ...(await enqueueGrills(500))];
    await sweep(deps());
    await api.queues.connection.flushall();
    expect(await sweep(deps())).toMatchObject({ fullCheck: 'mark_missing', readded: ids.length });
    const counts = await grillQueue().getJobCounts('waiting', 'prioritized');
    expect((counts.waiting ?? 0) + (counts.prioritized ?? 0)).toBe(ids.length);
  });

  it('checks every QUEUED job after an outage of Postgres, when BullMQ may have given up on deliveries', async () => {
    const [id] = await enqueueGrills(1);
    await sweep(deps());
    // As a delivery whose claims failed until its attempts ran out ends: failed in its queue, the row still QUEUED.
    await grillQueue().remove(id!);
    expect(await sweep(deps())).toMatchObject({ fullCheck: null, readded: 0 });
    expect(await sweep(deps(), { afterPostgresOutage: true })).toMatchObject({ fullCheck: 'postgres_outage', readded: 1 });
  });

  it('checks again in full after a full check that did not finish', async () => {
    const [id] = await enqueueGrills(1);
    await sweep(deps());
    await grillQueue().remove(id!);
    // As a crash mid-check leaves the marks: written as begun, never turned into checked.
    for (const key of markKeys()) {
      const mark = JSON.parse((await api.queues.connection.get(key))!) as Record<string, unknown>;
      await api.queues.connection.set(key, JSON.stringify({ ...mark, state: 'checking' }));
    }
    expect(await sweep(deps())).toMatchObject({ fullCheck: 'check_unfinished', readded: 1 });
  });
});

describe('supersede settles the subjects with a job new to QUEUED', () => {
  /** A QUEUED plan chat of the idea, made without the enqueue's own supersede (as two racing enqueues end up). */
  const chat = async (ideaId: string) => (await inTrx(env.database.db, (trx) => planChatJob(trx, ideaId))).id;
  const statusOf = async (id: string) =>
    (await env.database.db.selectFrom('claude_jobs').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;

  it('skips the older of two QUEUED jobs of one subject created since the last sweep', async () => {
    const db = env.database.db;
    const [idea] = await createIdeas(db, await createProduct(db), 1, 'PLAN_READY');
    const older = await chat(idea!);
    const newer = await chat(idea!);
    expect(await sweep(deps())).toMatchObject({ superseded: 1 });
    expect(await statusOf(older)).toBe('SKIPPED');
    expect(await statusOf(newer)).toBe('QUEUED');
  });

  it('leaves a pair from before the last settle alone until the full settle', async () => {
    const db = env.database.db;
    const [idea] = await createIdeas(db, await createProduct(db), 1, 'PLAN_READY');
    const older = await chat(idea!);
    const newer = await chat(idea!);
    // As if a settle had passed them already: the enqueue path probes for older jobs itself, so
    // only racing enqueues leave a pair, and those are new to the next settle.
    const { max } = await db.selectFrom('transitions').select(sql<string>`max(id)::text`.as('max')).executeTakeFirstOrThrow();
    await api.queues.connection.set(`${env.prefix}:sweep:superseded`, JSON.stringify({ upTo: max, fullAt: Date.now() }));

    expect(await sweep(deps())).toMatchObject({ superseded: 0 });
    expect(await statusOf(older)).toBe('QUEUED');
    expect(await sweep(deps({ reconcileFullIntervalMs: 0 }))).toMatchObject({ superseded: 1 });
    expect(await statusOf(older)).toBe('SKIPPED');
    expect(await statusOf(newer)).toBe('QUEUED');
  });

  it('leaves the settle to a later sweep while Redis does not answer, instead of settling every QUEUED job each time', async () => {
    const db = env.database.db;
    const [idea] = await createIdeas(db, await createProduct(db), 1, 'PLAN_READY');
    const older = await chat(idea!);
    await chat(idea!);
    // A pair settled already as far as the position says (as in the test above).
    const { max } = await db.selectFrom('transitions').select(sql<string>`max(id)::text`.as('max')).executeTakeFirstOrThrow();
    await api.queues.connection.set(`${env.prefix}:sweep:superseded`, JSON.stringify({ upTo: max, fullAt: Date.now() }));

    await redis.stop();
    try {
      await waitFor('the producer connection to drop', async () => producerStatus() !== 'ready');
      // The position is in Redis: unread, it is not taken as lost (which would read every QUEUED job, every sweep of an outage).
      expect(await skipSuperseded({ db, queues: api.queues, fullIntervalMs: 3_600_000, slackMs: 0 })).toBe(0);
      expect(await statusOf(older)).toBe('QUEUED');
    } finally {
      await redis.start();
      await waitFor('the producer connection to come back', async () => producerStatus() === 'ready', { timeoutMs: 15_000 });
    }
    // Redis came back empty: the position is gone, and the next settle looks at every QUEUED job.
    expect(await skipSuperseded({ db, queues: api.queues, fullIntervalMs: 3_600_000, slackMs: 0 })).toBe(1);
    expect(await statusOf(older)).toBe('SKIPPED');
  });

  it('settles a subject whose older job was requeued after a newer one was enqueued', async () => {
    const db = env.database.db;
    const [idea] = await createIdeas(db, await createProduct(db), 1, 'PLAN_READY');
    const older = await chat(idea!);
    // Held under a lease of its own, so that the sweep below leaves its claim alone.
    const leased = { lease_expires_at: new Date(Date.now() + 3_600_000).toISOString() };
    await inTrx(db, (trx) => transitionMany(trx, claudeJobMachine, [{ id: older, from: 'QUEUED', to: 'CLAIMED', set: leased }]));
    const newer = await chat(idea!);
    expect(await sweep(deps())).toMatchObject({ requeued: 0, superseded: 0 });
    await inTrx(db, (trx) =>
      transitionMany(trx, claudeJobMachine, [
        { id: older, from: 'CLAIMED', to: 'QUEUED', set: { requeue_count: 1, lease_expires_at: null } },
      ]),
    );
    expect(await sweep(deps())).toMatchObject({ superseded: 1 });
    expect(await statusOf(older)).toBe('SKIPPED');
    expect(await statusOf(newer)).toBe('QUEUED');
  });
});
