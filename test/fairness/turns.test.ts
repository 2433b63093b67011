/**
 * Issue 19, point 2: owners take turns within a kind. A job's turn is its BullMQ priority
 * (src/fairness/turns.ts), so the order jobs reach RUNNING on a worker that runs one at a time is
 * the order the fleet serves them in. Every assertion is about that order (the transitions'
 * history ids), never about time: owner A holds 10,000 queued jobs, owner B enqueues one, and
 * B's job is among the first two to start; A's own jobs keep their order; three owners with a
 * backlog each interleave round by round; turns restart at 1 once a kind's queue is empty.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import { createDryRunExecutor } from '../../src/executors/dry-run.executor.js';
import { assignTurns } from '../../src/fairness/turns.js';
import { MAX_PRIORITY, priorityOf } from '../../src/queues/job-priority.js';
import type { ClaudeJob } from '../../src/db/tables/claude-job.table.js';
import { insertJobs } from '../../src/jobs/enqueue-jobs.js';
import { failLostJobs } from '../../src/jobs/retry-jobs.js';
import { claudeJobMachine } from '../../src/machines/index.js';
import type { JobKind } from '../../src/queues/kinds.js';
import { sweep } from '../../src/sweeper/sweep.js';
import { transitionMany } from '../../src/transitions/index.js';
import { startWorkerPool, type WorkerPool } from '../../src/workers/worker-pool.js';
import { type ApiHarness, createApiHarness } from '../helpers/api-harness.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

/** One test's fleet: its own database and prefix, the API in-process, workers started on demand. */
interface World {
  env: TestEnv;
  db: Db;
  api: ApiHarness;
  pools: WorkerPool[];
}

const worlds: World[] = [];

async function openWorld(): Promise<World> {
  const env = await createTestEnv();
  const world = { env, db: env.database.db, api: await createApiHarness(env), pools: [] };
  worlds.push(world);
  return world;
}

afterEach(async () => {
  for (const world of worlds.splice(0)) {
    await Promise.all(world.pools.map((pool) => pool.close(5_000)));
    await world.api.close();
    await world.env.teardown();
  }
});

/** A worker that runs one job at a time with the dry-run agent: it starts jobs in the order it is given them. */
async function startSerialWorker(world: World, kind: JobKind): Promise<WorkerPool> {
  const pool = await startWorkerPool({
    config: world.env.config,
    db: world.db,
    logger: world.env.logger,
    executor: createDryRunExecutor(),
    kinds: [kind],
    concurrency: 1,
    version: 'test',
  });
  world.pools.push(pool);
  return pool;
}

/** An owner with a product and a token that may enqueue for it. */
async function owner(world: World, ownerId: string) {
  const product = await createProduct(world.db, ownerId, `${ownerId}'s product`);
  const secret = await world.api.token(['read', 'write', 'enqueue'], ownerId);
  return { ownerId, product, headers: { authorization: `Bearer ${secret}` } };
}

type Owner = Awaited<ReturnType<typeof owner>>;

/**
 * `count` jobs of new ideas enqueued as the owner through the batch API, at most 1,000 per call:
 * grills of draft ideas, or chats about ready plans (whose enqueue is the cheaper of the two, for
 * a backlog of thousands).
 */
async function enqueueJobs(world: World, as: Owner, kind: 'idea_grill' | 'plan_chat', count: number): Promise<string[]> {
  const ideas = await createIdeas(world.db, as.product, count, kind === 'idea_grill' ? 'DRAFT' : 'PLAN_READY');
  const ids: string[] = [];
  for (let start = 0; start < ideas.length; start += 1_000) {
    const jobs = ideas
      .slice(start, start + 1_000)
      .map((idea_id) => (kind === 'idea_grill' ? { kind, idea_id } : { kind, idea_id, payload: { message: 'Shorter, please.' } }));
    const response = await world.api.call('POST', '/api/v1/jobs/batch', { jobs }, as.headers);
    expect(response.status).toBe(202);
    ids.push(...response.body.jobs.map((job: { id: string }) => job.id));
  }
  return ids;
}

/** Job ids in the order they reached RUNNING, read from the history (its ids are the commit order of the claims). */
async function startOrder(db: Db): Promise<string[]> {
  const rows = await db
    .selectFrom('transitions')
    .select('entity_id')
    .where('entity_type', '=', 'CLAUDE_JOB')
    .where('to_status', '=', 'RUNNING')
    .orderBy('id')
    .execute();
  return rows.map((row) => row.entity_id);
}

async function waitForStarts(db: Db, count: number, timeoutMs = 60_000): Promise<string[]> {
  return waitFor(`${count} jobs to start`, async () => ((await startOrder(db)).length >= count ? startOrder(db) : undefined), {
    timeoutMs,
    intervalMs: 20,
  });
}

const turnsOf = async (db: Db, ids: readonly string[]) => {
  const rows = await db
    .selectFrom('claude_jobs')
    .select(['id', 'turn'])
    .where('id', 'in', [...ids])
    .execute();
  const byId = new Map(rows.map((row) => [row.id, row.turn]));
  return ids.map((id) => byId.get(id));
};

describe('an owner with 10,000 queued jobs and an owner who enqueues one', () => {
  it("serves the second owner's job within one slot, and keeps the first owner's jobs in their order", async () => {
    const world = await openWorld();
    const a = await owner(world, 'owner-a');
    const b = await owner(world, 'owner-b');

    // No worker yet: the whole backlog waits, as behind a busy fleet.
    const backlog = await enqueueJobs(world, a, 'plan_chat', 10_000);
    expect(backlog).toHaveLength(10_000);
    const [single] = await enqueueJobs(world, b, 'plan_chat', 1);
    // The turns that make it so: A's jobs take 1..10,000, B's one job takes the front's turn.
    expect(await turnsOf(world.db, [backlog[0]!, backlog[1]!, backlog[9_999]!, single!])).toEqual([1, 2, 10_000, 1]);

    await startSerialWorker(world, 'PLAN_CHAT');
    const started = await waitForStarts(world.db, 60);
    // Enough seen: the rest of the backlog is not run through.
    await Promise.all(world.pools.splice(0).map((pool) => pool.close(5_000)));

    // Everything started after B enqueued (no worker ran before): B's job is first or second.
    expect(started.slice(0, 2)).toContain(single);
    // A's jobs start in the order A enqueued them.
    const startedOfA = started.filter((id) => id !== single).slice(0, 50);
    expect(startedOfA).toEqual(backlog.slice(0, 50));
  });
});

describe('three owners with 30 queued jobs each', () => {
  it('take turns round by round: no owner gets a second turn before the others had one, and each keeps its order', async () => {
    const world = await openWorld();
    const owners = [await owner(world, 'owner-a'), await owner(world, 'owner-b'), await owner(world, 'owner-c')];
    const queued = new Map<string, string[]>();
    for (const each of owners) queued.set(each.ownerId, await enqueueJobs(world, each, 'idea_grill', 30));
    for (const ids of queued.values()) expect(await turnsOf(world.db, ids)).toEqual(ids.map((_, index) => index + 1));

    await startSerialWorker(world, 'IDEA_GRILL');
    const started = await waitForStarts(world.db, 90);
    const ownerOf = new Map([...queued].flatMap(([ownerId, ids]) => ids.map((id) => [id, ownerId] as const)));
    const owned = started.map((id) => ownerOf.get(id));
    for (let round = 0; round < 30; round += 1) {
      expect({ round, owners: new Set(owned.slice(round * 3, round * 3 + 3)) }).toEqual({
        round,
        owners: new Set(['owner-a', 'owner-b', 'owner-c']),
      });
    }
    for (const [ownerId, ids] of queued) expect(started.filter((id) => ownerOf.get(id) === ownerId)).toEqual(ids);

    // Once the kind's queue has emptied, turns start again from 1.
    await waitFor('every job to be done', async () => {
      const open = await world.db.selectFrom('claude_jobs').select('id').where('status', 'in', ['QUEUED', 'CLAIMED', 'RUNNING']).execute();
      return open.length === 0;
    });
    const again = await enqueueJobs(world, owners[1]!, 'idea_grill', 2);
    expect(await turnsOf(world.db, again)).toEqual([1, 2]);
  });
});

describe('assignTurns', () => {
  it('gives consecutive turns per kind and owner within one call, after what is queued, each kind on its own', async () => {
    const world = await openWorld();
    const { db } = world;

    const fresh = await db.transaction().execute((trx) =>
      assignTurns(trx, [
        { kind: 'IDEA_GRILL', owner_id: 'a' },
        { kind: 'IDEA_GRILL', owner_id: 'b' },
        { kind: 'IDEA_GRILL', owner_id: 'a' },
        { kind: 'PLAN_CHAT', owner_id: 'a' },
        { kind: 'IDEA_GRILL', owner_id: 'a' },
        { kind: 'PLAN_CHAT', owner_id: 'b' },
        { kind: 'PLAN_CHAT', owner_id: 'a' },
      ]),
    );
    expect(fresh).toEqual([1, 1, 2, 1, 3, 1, 2]);

    // A queues three grills and B one: the front of the grill queue is turn 1.
    const productA = await createProduct(db, 'a');
    const productB = await createProduct(db, 'b');
    const grillsOfA = await enqueueRows(db, await createIdeas(db, productA, 3, 'DRAFT'));
    const grillsOfB = await enqueueRows(db, await createIdeas(db, productB, 1, 'DRAFT'));
    expect(grillsOfA.map((job) => job.turn)).toEqual([1, 2, 3]);
    expect(grillsOfB.map((job) => job.turn)).toEqual([1]);
    const next = () =>
      db.transaction().execute((trx) =>
        assignTurns(trx, [
          { kind: 'IDEA_GRILL', owner_id: 'c' },
          { kind: 'IDEA_GRILL', owner_id: 'a' },
          { kind: 'IDEA_GRILL', owner_id: 'b' },
          { kind: 'PLAN_CHAT', owner_id: 'c' },
        ]),
      );
    expect(await next()).toEqual([1, 4, 2, 1]);

    // The turn-1 jobs leave the queue: the front moves to 2, for newcomers and for B alike.
    await db.transaction().execute((trx) =>
      transitionMany(
        trx,
        claudeJobMachine,
        [grillsOfA[0]!, grillsOfB[0]!].map((job) => ({
          id: job.id,
          from: 'QUEUED' as const,
          to: 'RUNNING' as const,
          via: ['CLAIMED' as const],
        })),
      ),
    );
    expect(await next()).toEqual([2, 4, 2, 1]);
  });

  it("follows what is served: a backlog nobody serves does not hold the front back, and an owner's running jobs are theirs", async () => {
    const world = await openWorld();
    const { db } = world;
    const start = (jobs: readonly ClaudeJob[]) =>
      db.transaction().execute((trx) =>
        transitionMany(
          trx,
          claudeJobMachine,
          jobs.map((job) => ({ id: job.id, from: 'QUEUED' as const, to: 'RUNNING' as const, via: ['CLAIMED' as const] })),
        ),
      );
    const turnOf = (owner: string) =>
      db.transaction().execute(async (trx) => (await assignTurns(trx, [{ kind: 'IDEA_GRILL', owner_id: owner }]))[0]);

    // Z's job is never served (held at Z's cap, say); D's backlog is, three of its jobs running.
    const z = await enqueueRows(db, await createIdeas(db, await createProduct(db, 'z'), 1, 'DRAFT'));
    const d = await enqueueRows(db, await createIdeas(db, await createProduct(db, 'd'), 5, 'DRAFT'));
    expect([...z, ...d].map((job) => job.turn)).toEqual([1, 1, 2, 3, 4, 5]);
    await start(d.slice(0, 3));
    // A newcomer takes the turn being served, not Z's: it goes after D's running jobs, not before D's backlog.
    expect(await turnOf('e')).toBe(3);

    // E's job starts; E's next one follows it, as if it were still queued.
    const e = await enqueueRows(db, await createIdeas(db, await createProduct(db, 'e'), 1, 'DRAFT'));
    expect(e.map((job) => job.turn)).toEqual([3]);
    await start(e);
    expect(await turnOf('e')).toBe(4);
  });

  it('puts every delivery on its queue with its turn as priority, also when reconcile queues it again', async () => {
    const world = await openWorld();
    const a = await owner(world, 'owner-a');
    const b = await owner(world, 'owner-b');
    const ids = [...(await enqueueJobs(world, a, 'idea_grill', 3)), ...(await enqueueJobs(world, b, 'idea_grill', 2))];
    const queue = world.api.queues.queue('IDEA_GRILL');
    const priorities = async () => Promise.all(ids.map(async (id) => (await queue.getJob(id))?.opts.priority));
    expect(await priorities()).toEqual([1, 2, 3, 1, 2]);

    // Redis loses the deliveries; the sweeper's reconcile adds them again from the rows, turns and all.
    await world.env.deleteKeys();
    expect(await priorities()).toEqual(ids.map(() => undefined));
    await sweep(
      {
        db: world.db,
        queues: world.api.queues,
        logger: world.env.logger,
        leaseMs: 60_000,
        staleClaimMs: 60_000,
        maxRetries: 2,
        reconcileGraceMs: 0,
      },
      { judgeLeases: false },
    );
    expect(await priorities()).toEqual([1, 2, 3, 1, 2]);
  });

  it("keeps a retried job's turn: it was due already", async () => {
    const world = await openWorld();
    const { db } = world;
    const product = await createProduct(db, 'a');
    const jobs = await enqueueRows(db, await createIdeas(db, product, 3, 'DRAFT'));
    expect(jobs.map((job) => job.turn)).toEqual([1, 2, 3]);
    const { retries } = await db.transaction().execute(async (trx) => {
      const { applied } = await transitionMany(trx, claudeJobMachine, [
        { id: jobs[1]!.id, from: 'QUEUED' as const, to: 'RUNNING' as const, via: ['CLAIMED' as const] },
      ]);
      return failLostJobs(trx, [applied[0]!.row as ClaudeJob], {
        trigger: 'worker_lost',
        error: { code: 'worker_lost', message: 'the test took its worker away' },
        maxRetries: 2,
        actorTokenId: null,
      });
    });
    expect(retries.map((retry) => [retry.retry_of_job_id, retry.owner_id, retry.turn])).toEqual([[jobs[1]!.id, 'a', 2]]);
  });

  it('clamps a turn to BullMQ priorities', () => {
    expect([priorityOf(0), priorityOf(1), priorityOf(5), priorityOf(MAX_PRIORITY), priorityOf(MAX_PRIORITY + 10)]).toEqual([
      1,
      1,
      5,
      MAX_PRIORITY,
      MAX_PRIORITY,
    ]);
  });
});

/** Grills of these ideas enqueued in one transaction as the fleet itself would (no queue add needed here). */
async function enqueueRows(db: Db, ideas: readonly string[]) {
  const { created } = await db.transaction().execute((trx) =>
    insertJobs(
      trx,
      ideas.map((subjectId) => ({ kind: 'IDEA_GRILL' as const, subjectId })),
      { actorTokenId: null },
    ),
  );
  return created;
}
