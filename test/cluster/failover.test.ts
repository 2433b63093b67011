/**
 * A Redis Cluster losing the master that holds a busy kind's queue, while worker processes run
 * that kind's jobs (and wait, idle, on another kind's queue on that master) and a sweeper
 * watches: the replica takes over, and every accepted job still ends DONE exactly once.
 *
 * Replication is asynchronous, so a master can die holding writes its replica never received.
 * The test makes that happen for certain rather than by luck: it freezes the replica and cuts its
 * link, enqueues a wave of jobs the master alone holds, kills the master and thaws the replica,
 * which then takes over without those entries. Only the sweeper's reconcile can put them back.
 * A cluster of this file's own: the shared one must stay whole for the other files.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { createDryRunGate, removeDryRunGates } from '../helpers/dry-run-gate.js';
import { type JobfleetProcess, killAll, spawnJobfleet } from '../helpers/processes.js';
import { type RedisClusterHandle, startRedisCluster } from '../helpers/redis-cluster.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

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
  removeDryRunGates();
  await api.close();
  await env.teardown();
  await cluster.stop();
});

const WORKERS = 2;
const CONCURRENCY = 10;

/** Jobs the sweeper's reconcile put back, from its `sweep repaired the fleet` lines after `from`. */
function readded(sweeper: JobfleetProcess, from: number): number {
  return sweeper
    .output()
    .slice(from)
    .split('\n')
    .filter((line) => line.includes('sweep repaired the fleet'))
    .reduce((sum, line) => sum + ((JSON.parse(line) as { readded?: number }).readded ?? 0), 0);
}

describe('a master of the cluster dying', () => {
  // Longer than the waits inside it together, so that a stall fails in one of them, saying which.
  it('loses no accepted job: the replica takes over, reconcile puts back what it never received, every job is done once', {
    timeout: 180_000,
  }, async () => {
    const db = env.database.db;
    const product = await createProduct(db);
    const gate = createDryRunGate();
    const enqueue = async (count: number) => {
      const ideas = await createIdeas(db, product, count, 'DRAFT', `Held until the failover is over ${gate.marker}`);
      const response = await api.call('POST', '/api/v1/jobs/batch', { jobs: ideas.map((idea_id) => ({ kind: 'idea_grill', idea_id })) });
      expect(response.status).toBe(202);
      return (response.body.jobs as { id: string }[]).map((job) => job.id);
    };
    const statusCounts = async (ids: string[]) =>
      Object.fromEntries(
        (
          await db
            .selectFrom('claude_jobs')
            .select(['status', sql<number>`count(*)::int`.as('count')])
            .where('id', 'in', ids)
            .groupBy('status')
            .execute()
        ).map((row) => [row.status, row.count]),
      );

    // The sweeper logs what each sweep repaired: that is how reconcile's work is seen.
    const sweeper = spawnJobfleet(['sweeper'], { ...env.env, LOG_LEVEL: 'info' });
    const workers = Array.from({ length: WORKERS }, () =>
      spawnJobfleet(['worker', '--kinds', 'idea_grill,idea_make_plan', '--concurrency', String(CONCURRENCY)], env.env),
    );
    await Promise.all([sweeper.line(/sweeper running/), ...workers.map((worker) => worker.line(/jobfleet worker \S+ running/))]);

    // Every slot busy with a held job, and more waiting behind them.
    const first = await enqueue(WORKERS * CONCURRENCY + 10);
    await waitFor('every worker slot to run a job', async () => (await statusCounts(first)).RUNNING === WORKERS * CONCURRENCY);

    const queue = api.queues.queue('IDEA_GRILL');
    const master = await cluster.masterOf(queue.toKey('prioritized'));
    const [replica] = await cluster.replicasOf(master);
    expect(replica).toBeDefined();
    // idea_make_plan's hash tag falls in the same master's slots: its workers, idle, wait on the
    // master that dies in a blocking fetch, and must find the replica once it took over.
    const idle = api.queues.queue('IDEA_MAKE_PLAN');
    expect(await cluster.masterOf(idle.toKey('prioritized'))).toEqual(master);

    // The replica stops taking anything from its master; the master takes a wave only it holds.
    cluster.pause(replica!);
    await cluster.command(master, 'CLIENT', 'KILL', 'TYPE', 'replica');
    const unreplicated = await enqueue(40);
    for (const id of unreplicated) expect(await queue.getJob(id)).toBeDefined();

    const killedAt = sweeper.output().length;
    await cluster.kill(master);
    cluster.resume(replica!);
    // Jobs accepted while the queue's slots have no master: committed, queued once they have one.
    const duringFailover = await enqueue(10);
    await cluster.waitHealthy();
    expect(await cluster.masterOf(queue.toKey('prioritized'))).toEqual(replica);

    const plans = await createIdeas(db, product, 10, 'GRILLED');
    const planned = await api.call('POST', '/api/v1/jobs/batch', { jobs: plans.map((idea_id) => ({ kind: 'idea_make_plan', idea_id })) });
    expect(planned.status).toBe(202);
    const grills = [...first, ...unreplicated, ...duringFailover];
    const accepted = [...grills, ...(planned.body.jobs as { id: string }[]).map((job) => job.id)];
    await waitFor(
      'reconcile to put back every job the promoted replica never received',
      () => readded(sweeper, killedAt) >= unreplicated.length,
      { timeoutMs: 30_000 },
    );
    // Besides those, at most the jobs accepted while the slots had no master were put back.
    expect(readded(sweeper, killedAt)).toBeLessThanOrEqual(unreplicated.length + duringFailover.length);
    gate.open();
    const settled = await waitFor(
      'every accepted job to be done (or one to end otherwise)',
      async () => {
        const counts = await statusCounts(accepted);
        const ended = Object.keys(counts).some((status) => ['FAILED', 'CANCELLED', 'SKIPPED'].includes(status));
        return counts.DONE === accepted.length || ended ? counts : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(settled).toEqual({ DONE: accepted.length });

    // Done once each: one RUNNING -> DONE in each job's history, no retry made, one result per grilled idea.
    const done = await db
      .selectFrom('transitions')
      .select(['entity_id', sql<number>`count(*)::int`.as('count')])
      .where('entity_type', '=', 'CLAUDE_JOB')
      .where('entity_id', 'in', accepted)
      .where('from_status', '=', 'RUNNING')
      .where('to_status', '=', 'DONE')
      .groupBy('entity_id')
      .execute();
    expect(done).toHaveLength(accepted.length);
    expect(done.every((row) => row.count === 1)).toBe(true);
    expect(await db.selectFrom('claude_jobs').select('id').where('retry_of_job_id', 'in', accepted).execute()).toEqual([]);
    const jobs = await db.selectFrom('claude_jobs').select(['idea_id']).where('id', 'in', grills).execute();
    const results = await db
      .selectFrom('idea_logs')
      .select('idea_id')
      .where('type', '=', 'GRILL_RESULT')
      .where(
        'idea_id',
        'in',
        jobs.map((job) => job.idea_id!),
      )
      .execute();
    expect(results).toHaveLength(grills.length);
    expect(new Set(results.map((row) => row.idea_id)).size).toBe(grills.length);
    const planStatuses = await db.selectFrom('ideas').select('status').where('id', 'in', plans).execute();
    expect(planStatuses.every((idea) => idea.status === 'PLAN_READY')).toBe(true);

    for (const worker of workers) expect(worker.child.exitCode).toBeNull();
    expect(sweeper.child.exitCode).toBeNull();
  });
});
