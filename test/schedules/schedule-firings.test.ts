/**
 * Issue 19, point 3: schedules fire. A firing enqueues through the ordinary path (a QUEUED job
 * on its queue, as the schedule's owner and token, superseding the subject's older queued job),
 * is recorded once per fire time (schedule_firings and the schedule's last_* columns, or why it
 * made no job), survives the loss of the prefix's Redis keys (one sweep installs the scheduler
 * again and it fires again), and with two sweepers and two firing workers on one prefix each
 * firing enqueues exactly once. A disabled schedule does not fire. No job worker runs here: jobs
 * stay QUEUED, so what the firings made can be counted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken, revokeToken } from '../../src/auth/token.repository.js';
import type { Schedule } from '../../src/db/tables/schedule.table.js';
import { createJobQueues, type JobQueues } from '../../src/queues/job-queues.js';
import { createProducerConnection } from '../../src/queues/redis-connections.js';
import { fireSchedule, type ScheduleFirings, startScheduleFirings } from '../../src/schedules/index.js';
import { sweep } from '../../src/sweeper/sweep.js';
import { type ApiHarness, createApiHarness } from '../helpers/api-harness.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

let env: TestEnv;
let api: ApiHarness;
let alice: { authorization: string };
let aliceTokenId: string;
let product: string;

beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  const { token, secret } = await createToken(env.database.db, { name: 'alice', ownerId: 'alice', scopes: ['read', 'write', 'enqueue'] });
  alice = { authorization: `Bearer ${secret}` };
  aliceTokenId = token.id;
  product = await createProduct(env.database.db, 'alice', 'A');
});
afterAll(async () => {
  await api?.close();
  await env?.teardown();
});

const db = () => env.database.db;

async function call(method: string, path: string, body: unknown, as: { authorization: string }, expected: number) {
  const response = await api.call(method, path, body, as);
  expect(response.status, `${method} ${path}: ${JSON.stringify(response.body)}`).toBe(expected);
  return response.body;
}

/** A firing worker like the one every sweeper process runs, on this file's prefix. */
function firingWorker(queues: JobQueues = api.queues): ScheduleFirings {
  return startScheduleFirings({
    db: db(),
    queues,
    logger: env.logger,
    redis: env.redis,
    defaultDailyUsd: null,
  });
}

/** Runs `work` with `count` firing workers, and waits for them to finish what they hold. */
async function withFirings<T>(count: number, work: () => Promise<T>): Promise<T> {
  const workers = Array.from({ length: count }, () => firingWorker());
  try {
    return await work();
  } finally {
    await Promise.all(workers.map((worker) => worker.close()));
  }
}

const chatEvery = (idea: string, everyMs: number, extra: object = {}) => ({
  kind: 'plan_chat',
  idea_id: idea,
  payload: { message: 'Anything new?' },
  every_ms: everyMs,
  ...extra,
});

const newIdea = async (owner = product) => (await createIdeas(db(), owner, 1))[0]!;
const scheduleRow = (id: string) => db().selectFrom('schedules').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const firingsOf = (id: string) =>
  db().selectFrom('schedule_firings').selectAll().where('schedule_id', '=', id).orderBy('fired_for').execute();
const jobsOf = (idea: string) => db().selectFrom('claude_jobs').selectAll().where('idea_id', '=', idea).orderBy('created_at').execute();
const firedAtLeast = (id: string, count: number) =>
  waitFor(`schedule ${id} to fire ${count} times`, async () => {
    const row = await scheduleRow(id);
    return row.firing_count >= count ? row : undefined;
  });
const sweepDeps = (queues: JobQueues) => ({
  db: db(),
  queues,
  logger: env.logger,
  leaseMs: 60_000,
  staleClaimMs: 60_000,
  maxRetries: 2,
  reconcileGraceMs: 0,
});

describe('a schedule firing', () => {
  it('enqueues a QUEUED job through the ordinary path as its owner and token, and records the firing', async () => {
    const idea = await newIdea();
    // An interval fires once when it is installed, then every hour: exactly one firing here.
    const created = await withFirings(1, async () => {
      const schedule = await call('POST', '/api/v1/schedules', chatEvery(idea, 3_600_000), alice, 201);
      await firedAtLeast(schedule.id, 1);
      return schedule;
    });
    const shown = await call('GET', `/api/v1/schedules/${created.id}`, undefined, alice, 200);
    expect(shown).toMatchObject({ firing_count: 1, last_outcome: 'enqueued', last_reason: null, last_job_id: expect.any(String) });
    expect(new Date(shown.next_fire_at).getTime()).toBe(new Date(shown.last_fired_at).getTime() + 3_600_000);

    const [job] = await jobsOf(idea);
    expect(job).toMatchObject({
      id: shown.last_job_id,
      kind: 'PLAN_CHAT',
      status: 'QUEUED',
      owner_id: 'alice',
      created_by_token_id: aliceTokenId,
      payload: { message: 'Anything new?' },
    });
    expect(await api.queues.missing([job!])).toEqual([]);
    const [firing] = await firingsOf(created.id);
    expect(firing).toMatchObject({ job_id: job!.id, outcome: 'enqueued', reason: null });
    expect(firing!.fired_for.toISOString()).toBe(shown.last_fired_at);
    // The job's history names the schedule's token, as an enqueue over the API would.
    const [enqueued] = await call('GET', `/api/v1/jobs/${job!.id}/history`, undefined, alice, 200).then((h) => h.items);
    expect(enqueued).toMatchObject({ to: 'queued', actor_token_id: aliceTokenId });
  });

  it('fires every second, and supersede leaves one QUEUED job for the subject', async () => {
    const idea = await newIdea();
    const schedule = await withFirings(1, async () => {
      const created = await call('POST', '/api/v1/schedules', chatEvery(idea, 1_000), alice, 201);
      await firedAtLeast(created.id, 3);
      await call('PATCH', `/api/v1/schedules/${created.id}`, { enabled: false }, alice, 200);
      return created;
    });
    const row = await scheduleRow(schedule.id);
    const firings = await firingsOf(schedule.id);
    const jobs = await jobsOf(idea);
    expect(firings.length).toBe(row.firing_count);
    expect(firings.every((firing) => firing.outcome === 'enqueued')).toBe(true);
    expect(jobs.map((job) => job.id).sort()).toEqual(firings.map((firing) => firing.job_id).sort());
    const queued = jobs.filter((job) => job.status === 'QUEUED');
    expect(queued.map((job) => job.id)).toEqual([row.last_job_id]);
    expect(jobs.filter((job) => job.status === 'SKIPPED').length).toBe(jobs.length - 1);
    // The scheduler's slots: one interval apart (or a whole number of them, had one been missed).
    for (let i = 1; i < firings.length; i += 1) {
      const gap = firings[i]!.fired_for.getTime() - firings[i - 1]!.fired_for.getTime();
      expect(gap % 1_000).toBe(0);
      expect(gap).toBeGreaterThan(0);
    }
  });

  it('is installed again by one sweep after the prefix lost its Redis keys, and fires again', async () => {
    const idea = await newIdea();
    const firings = firingWorker();
    try {
      const created = await call('POST', '/api/v1/schedules', chatEvery(idea, 3_600_000), alice, 201);
      await firedAtLeast(created.id, 1);
      await env.deleteKeys();
      expect(await api.queues.schedules.installed()).toEqual([]);
      const report = await sweep(sweepDeps(api.queues));
      expect(report.schedulesInstalled).toBeGreaterThanOrEqual(1);
      expect((await api.queues.schedules.installed()).map((scheduler) => scheduler.id)).toContain(created.id);
      // A newly installed interval fires at once.
      const row = await firedAtLeast(created.id, 2);
      expect(row.last_outcome).toBe('enqueued');
      const recorded = await firingsOf(created.id);
      expect(recorded.length).toBe(2);
      expect(recorded[1]!.fired_for.getTime()).toBeGreaterThan(recorded[0]!.fired_for.getTime());
    } finally {
      await firings.close();
    }
  });

  it('enqueues exactly once per firing with two sweepers and two firing workers on one prefix', async () => {
    const idea = await newIdea();
    const connections = [createProducerConnection(env.redis, env.logger), createProducerConnection(env.redis, env.logger)];
    const sweepers = connections.map((connection) => createJobQueues({ connection, layout: env.layout, logger: env.logger }));
    const workers = sweepers.map((queues) => firingWorker(queues));
    let sweeping = true;
    const loops = sweepers.map(async (queues) => {
      while (sweeping) {
        // As the sweeper does: a sweep that meets Redis mid-loss fails, and the next one tries again.
        await sweep(sweepDeps(queues)).catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    });
    let id = '';
    try {
      id = (await call('POST', '/api/v1/schedules', chatEvery(idea, 1_000), alice, 201)).id;
      await firedAtLeast(id, 2);
      // Redis loses everything; both sweepers race to install the scheduler again.
      await env.deleteKeys();
      const before = (await scheduleRow(id)).firing_count;
      await firedAtLeast(id, before + 3);
      await call('PATCH', `/api/v1/schedules/${id}`, { enabled: false }, alice, 200);
    } finally {
      sweeping = false;
      await Promise.all(loops);
      await Promise.all(workers.map((worker) => worker.close()));
      await Promise.all(sweepers.map((queues) => queues.close()));
      for (const connection of connections) connection.disconnect();
    }
    const row = await scheduleRow(id);
    const firings = await firingsOf(id);
    const jobs = await jobsOf(idea);
    expect(firings.length).toBe(row.firing_count);
    expect(new Set(firings.map((firing) => firing.fired_for.getTime())).size).toBe(firings.length);
    expect(firings.every((firing) => firing.outcome === 'enqueued' && firing.job_id !== null)).toBe(true);
    expect(jobs.map((job) => job.id).sort()).toEqual(firings.map((firing) => firing.job_id).sort());
    expect(jobs.filter((job) => job.status === 'QUEUED').map((job) => job.id)).toEqual([row.last_job_id]);
  });

  it('enqueues once when one firing is delivered twice, even at the same moment', async () => {
    const idea = await newIdea();
    const created = await call('POST', '/api/v1/schedules', chatEvery(idea, 3_600_000), alice, 201);
    // No firing worker runs: this test delivers the firing itself.
    await api.queues.schedules.remove(created.id);
    const deps = { db: db(), queues: api.queues, logger: env.logger, defaultDailyUsd: null };
    const firing = { scheduleId: created.id, firedFor: new Date('2030-01-01T02:00:00Z') };
    const outcomes = await Promise.all([fireSchedule(deps, firing), fireSchedule(deps, firing)]);
    expect(outcomes.map((outcome) => outcome.outcome).sort()).toEqual(['duplicate', 'enqueued']);
    expect((await fireSchedule(deps, firing)).outcome).toBe('duplicate');
    expect((await jobsOf(idea)).length).toBe(1);

    // A late delivery of an earlier firing is recorded but does not move last_* back.
    const newest = (await scheduleRow(created.id)).last_job_id;
    const late = await fireSchedule(deps, { ...firing, firedFor: new Date('2029-12-31T02:00:00Z') });
    expect(late.outcome).toBe('enqueued');
    const row = await scheduleRow(created.id);
    expect(row).toMatchObject({ firing_count: 2, last_job_id: newest });
    expect(row.last_fired_at!.toISOString()).toBe('2030-01-01T02:00:00.000Z');
  });

  it('does not fire while disabled, and a scheduler left for a disabled schedule is removed by its firing', async () => {
    const quiet = await newIdea();
    const busy = await newIdea();
    const disabled = await call('POST', '/api/v1/schedules', chatEvery(quiet, 1_000, { enabled: false }), alice, 201);
    expect((await api.queues.schedules.installed()).map((scheduler) => scheduler.id)).not.toContain(disabled.id);
    await withFirings(1, async () => {
      // As if Redis had kept it from before the schedule was disabled.
      await api.queues.schedules.install({ ...(await scheduleRow(disabled.id)), revision: 1 });
      const enabled = await call('POST', '/api/v1/schedules', chatEvery(busy, 1_000), alice, 201);
      await waitFor('the stale scheduler to be removed', async () =>
        (await api.queues.schedules.installed()).every((scheduler) => scheduler.id !== disabled.id),
      );
      await firedAtLeast(enabled.id, 2);
      await call('DELETE', `/api/v1/schedules/${enabled.id}`, undefined, alice, 204);
    });
    expect(await scheduleRow(disabled.id)).toMatchObject({ firing_count: 0, last_fired_at: null });
    expect(await firingsOf(disabled.id)).toEqual([]);
    expect(await jobsOf(quiet)).toEqual([]);
  });

  it("records why it made no job: the owner's budget is spent, the token was revoked", async () => {
    const spentOwner = await createProduct(db(), 'dora', 'D');
    const dora = await createToken(db(), { name: 'dora', ownerId: 'dora', scopes: ['read', 'enqueue'] });
    await db().insertInto('owner_budgets').values({ owner_id: 'dora', daily_usd: 0 }).execute();
    const spentIdea = await newIdea(spentOwner);
    const revokedIdea = await newIdea();
    const revoker = await createToken(db(), { name: 'short-lived', ownerId: 'alice', scopes: ['enqueue'] });
    // Made while no firing worker runs; their first firings wait in Redis.
    const spent = await call('POST', '/api/v1/schedules', chatEvery(spentIdea, 3_600_000), { authorization: `Bearer ${dora.secret}` }, 201);
    const revoked = await call(
      'POST',
      '/api/v1/schedules',
      chatEvery(revokedIdea, 3_600_000),
      { authorization: `Bearer ${revoker.secret}` },
      201,
    );
    await revokeToken(db(), revoker.token.id);
    await withFirings(1, async () => {
      await firedAtLeast(spent.id, 1);
      await firedAtLeast(revoked.id, 1);
    });
    const spentRow = await call('GET', `/api/v1/schedules/${spent.id}`, undefined, { authorization: `Bearer ${dora.secret}` }, 200);
    expect(spentRow).toMatchObject({ last_outcome: 'skipped', last_job_id: null, firing_count: 1 });
    expect(spentRow.last_reason).toMatch(/^budget_exhausted: /);
    expect((await firingsOf(spent.id))[0]).toMatchObject({ outcome: 'skipped', job_id: null, reason: spentRow.last_reason });
    expect(await jobsOf(spentIdea)).toEqual([]);

    const revokedRow = await scheduleRow(revoked.id);
    expect(revokedRow).toMatchObject({ last_outcome: 'skipped', last_job_id: null });
    expect(revokedRow.last_reason).toMatch(/^token_revoked: /);
    expect(await jobsOf(revokedIdea)).toEqual([]);
  });

  it("starts a sprint's run, and records a skip while that run is still active", async () => {
    const sprint = await call('POST', '/api/v1/sprints', { product_id: product, name: 'Nightly' }, alice, 201);
    const pbi = await call('POST', '/api/v1/pbis', { product_id: product, title: 'PBI' }, alice, 201);
    const story = await call('POST', '/api/v1/stories', { pbi_id: pbi.id, title: 'Story' }, alice, 201);
    await call('POST', `/api/v1/stories/${story.id}/transitions`, { to: 'in_sprint', sprint_id: sprint.id }, alice, 200);
    await call('POST', '/api/v1/tasks', { story_id: story.id, title: 'Task', implementation_plan: 'Do it.' }, alice, 201);
    const created = await call(
      'POST',
      '/api/v1/schedules',
      { kind: 'sprint_implementation', sprint_id: sprint.id, payload: { mode: 'sprint_batch' }, every_ms: 3_600_000 },
      alice,
      201,
    );
    const row: Schedule = await withFirings(1, () => firedAtLeast(created.id, 1));
    expect(row.last_outcome).toBe('enqueued');
    const job = await db().selectFrom('claude_jobs').selectAll().where('id', '=', row.last_job_id!).executeTakeFirstOrThrow();
    expect(job).toMatchObject({ kind: 'SPRINT_IMPLEMENTATION', status: 'QUEUED', created_by_token_id: aliceTokenId });
    const run = await db().selectFrom('sprint_runs').selectAll().where('id', '=', job.sprint_run_id!).executeTakeFirstOrThrow();
    expect(run).toMatchObject({ sprint_id: sprint.id, mode: 'SPRINT_BATCH', status: 'QUEUED' });

    const again = await fireSchedule(
      { db: db(), queues: api.queues, logger: env.logger, defaultDailyUsd: null },
      { scheduleId: created.id, firedFor: new Date(row.last_fired_at!.getTime() + 3_600_000) },
    );
    expect(again).toMatchObject({
      outcome: 'skipped',
      reason: expect.stringMatching(/^validation_failed: the sprint cannot run: run .* already queued/),
    });
    expect(await db().selectFrom('sprint_runs').select('id').where('sprint_id', '=', sprint.id).execute()).toHaveLength(1);
    await call('DELETE', `/api/v1/schedules/${created.id}`, undefined, alice, 204);
  });
});
