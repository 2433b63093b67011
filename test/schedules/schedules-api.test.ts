/**
 * Issue 19, point 3 over HTTP: schedules are made, read, listed, changed and deleted by their
 * owner's tokens only (another owner's answers 404 and is absent from the list), validated
 * (a bad cron expression answers 422 naming it; both or neither timing, a subject that does not
 * fit the kind, a bad payload or zone 422; a foreign or missing subject 404), and every committed
 * change reaches the BullMQ job scheduler at once: installed with the row's revision, replaced,
 * removed. When Redis cannot take it, the row stands and one sweep installs it.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobQueues } from '../../src/queues/job-queues.js';
import { createSchedule } from '../../src/schedules/index.js';
import { sweep } from '../../src/sweeper/sweep.js';
import { type ApiHarness, createApiHarness } from '../helpers/api-harness.js';
import { createIdeas, createProduct, createTasks } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let api: ApiHarness;
let alice: { authorization: string };
let bob: { authorization: string };
let aliceIdea: string;
let bobIdea: string;
let aliceTask: string;

beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  alice = { authorization: `Bearer ${await api.token(['read', 'write', 'enqueue'], 'alice')}` };
  bob = { authorization: `Bearer ${await api.token(['read', 'write', 'enqueue'], 'bob')}` };
  const aliceProduct = await createProduct(env.database.db, 'alice', 'A');
  aliceIdea = (await createIdeas(env.database.db, aliceProduct, 1))[0]!;
  aliceTask = (await createTasks(env.database.db, aliceProduct, 1))[0]!;
  bobIdea = (await createIdeas(env.database.db, await createProduct(env.database.db, 'bob', 'B'), 1))[0]!;
});
afterAll(async () => {
  await api?.close();
  await env?.teardown();
});

async function call(method: string, path: string, body: unknown, as: { authorization: string }, expected: number) {
  const response = await api.call(method, path, body, as);
  expect(response.status, `${method} ${path}: ${JSON.stringify(response.body)}`).toBe(expected);
  return response.body;
}

const nightlyChat = (idea: string, extra: object = {}) => ({
  kind: 'plan_chat',
  idea_id: idea,
  payload: { message: 'What changed since yesterday?' },
  cron: '0 2 * * *',
  timezone: 'Europe/Paris',
  ...extra,
});

const scheduler = async (id: string) => (await api.queues.schedules.installed()).find((installed) => installed.id === id);

describe('schedules over the API', () => {
  it('makes a schedule, shows it with its next firing, and installs its scheduler with the revision', async () => {
    const created = await call('POST', '/api/v1/schedules', nightlyChat(aliceIdea), alice, 201);
    expect(created).toMatchObject({
      kind: 'plan_chat',
      idea_id: aliceIdea,
      task_id: null,
      sprint_id: null,
      owner_id: 'alice',
      payload: { message: 'What changed since yesterday?' },
      cron: '0 2 * * *',
      every_ms: null,
      timezone: 'Europe/Paris',
      enabled: true,
      revision: 1,
      last_fired_at: null,
      last_job_id: null,
      last_outcome: null,
      last_reason: null,
      firing_count: 0,
    });
    // 02:00 in Paris is 00:00 or 01:00 UTC.
    expect(new Date(created.next_fire_at).getUTCHours()).toBeLessThanOrEqual(1);
    expect(new Date(created.next_fire_at).getTime()).toBeGreaterThan(Date.now());
    expect(await scheduler(created.id)).toEqual({
      id: created.id,
      revision: 1,
      cron: '0 2 * * *',
      everyMs: null,
      timezone: 'Europe/Paris',
    });

    expect(await call('GET', `/api/v1/schedules/${created.id}`, undefined, alice, 200)).toEqual(created);
    const listed = await call('GET', '/api/v1/schedules', undefined, alice, 200);
    expect(listed.items.map((item: { id: string }) => item.id)).toContain(created.id);
  });

  it('defaults the zone to UTC and enabled to true, and takes every_ms instead of cron', async () => {
    const created = await call(
      'POST',
      '/api/v1/schedules',
      { kind: 'task_implementation', task_id: aliceTask, every_ms: 3_600_000 },
      alice,
      201,
    );
    expect(created).toMatchObject({ timezone: 'UTC', enabled: true, every_ms: 3_600_000, cron: null, payload: {} });
    expect(await scheduler(created.id)).toMatchObject({ revision: 1, everyMs: 3_600_000, cron: null });
  });

  it('changes a schedule, raising its revision, and replaces its scheduler; disabling removes it', async () => {
    const created = await call('POST', '/api/v1/schedules', nightlyChat(aliceIdea), alice, 201);
    const patched = await call('PATCH', `/api/v1/schedules/${created.id}`, { cron: '30 6 * * 1-5' }, alice, 200);
    expect(patched).toMatchObject({ cron: '30 6 * * 1-5', timezone: 'Europe/Paris', revision: 2 });
    expect(await scheduler(created.id)).toMatchObject({ revision: 2, cron: '30 6 * * 1-5', timezone: 'Europe/Paris' });

    const every = await call(
      'PATCH',
      `/api/v1/schedules/${created.id}`,
      { every_ms: 120_000, payload: { message: 'Any news?' } },
      alice,
      200,
    );
    expect(every).toMatchObject({ cron: null, every_ms: 120_000, payload: { message: 'Any news?' }, revision: 3 });
    expect(await scheduler(created.id)).toMatchObject({ revision: 3, cron: null, everyMs: 120_000 });

    const disabled = await call('PATCH', `/api/v1/schedules/${created.id}`, { enabled: false }, alice, 200);
    expect(disabled).toMatchObject({ enabled: false, next_fire_at: null, revision: 4 });
    expect(await scheduler(created.id)).toBeUndefined();

    const enabled = await call('PATCH', `/api/v1/schedules/${created.id}`, { enabled: true }, alice, 200);
    expect(enabled.revision).toBe(5);
    expect(await scheduler(created.id)).toMatchObject({ revision: 5, everyMs: 120_000 });
  });

  it('deletes a schedule and its scheduler', async () => {
    const created = await call('POST', '/api/v1/schedules', nightlyChat(aliceIdea), alice, 201);
    expect(await scheduler(created.id)).toBeDefined();
    await call('DELETE', `/api/v1/schedules/${created.id}`, undefined, alice, 204);
    expect(await scheduler(created.id)).toBeUndefined();
    await call('GET', `/api/v1/schedules/${created.id}`, undefined, alice, 404);
    await call('DELETE', `/api/v1/schedules/${created.id}`, undefined, alice, 404);
  });

  it("answers 404 for another owner's schedule on get, patch and delete, and leaves it out of the list", async () => {
    const bobs = await call('POST', '/api/v1/schedules', nightlyChat(bobIdea), bob, 201);
    for (const [method, body] of [
      ['GET', undefined],
      ['PATCH', { enabled: false }],
      ['DELETE', undefined],
    ] as const) {
      const answer = await call(method, `/api/v1/schedules/${bobs.id}`, body, alice, 404);
      expect(answer.error.code).toBe('not_found');
    }
    const aliceList = await call('GET', '/api/v1/schedules', undefined, alice, 200);
    expect(aliceList.items.length).toBeGreaterThan(0);
    expect(aliceList.items.every((item: { owner_id: string }) => item.owner_id === 'alice')).toBe(true);
    // Untouched, and the admin sees both owners'.
    expect(await call('GET', `/api/v1/schedules/${bobs.id}`, undefined, bob, 200)).toMatchObject({ enabled: true, revision: 1 });
    const all = await api.call('GET', '/api/v1/schedules?limit=200');
    expect(new Set(all.body.items.map((item: { owner_id: string }) => item.owner_id))).toEqual(new Set(['alice', 'bob']));
    await call('GET', '/api/v1/schedules/not-a-uuid', undefined, alice, 404);
  });

  it('refuses a bad cron expression with 422 naming cron and the expression', async () => {
    const answer = await call('POST', '/api/v1/schedules', nightlyChat(aliceIdea, { cron: '61 25 * * *' }), alice, 422);
    expect(answer.error.code).toBe('validation_failed');
    expect(answer.error.message).toContain('cron');
    expect(answer.error.message).toContain('"61 25 * * *"');
    expect(answer.error.details.issues).toEqual([{ path: 'cron', message: expect.stringContaining('"61 25 * * *"') }]);

    const created = await call('POST', '/api/v1/schedules', nightlyChat(aliceIdea), alice, 201);
    const patched = await call('PATCH', `/api/v1/schedules/${created.id}`, { cron: 'every day' }, alice, 422);
    expect(patched.error.details.issues[0]).toMatchObject({ path: 'cron' });
    expect(patched.error.message).toContain('"every day"');
    expect(await call('GET', `/api/v1/schedules/${created.id}`, undefined, alice, 200)).toMatchObject({ cron: '0 2 * * *', revision: 1 });
  });

  it('refuses both or neither timing, an interval out of range, an unknown zone, a bad payload, a subject that does not fit the kind', async () => {
    const paths = async (body: object) =>
      (await call('POST', '/api/v1/schedules', body, alice, 422)).error.details.issues.map((issue: { path: string }) => issue.path);
    expect(await paths(nightlyChat(aliceIdea, { every_ms: 60_000 }))).toEqual(['cron', 'every_ms']);
    expect(await paths({ kind: 'plan_chat', idea_id: aliceIdea, payload: { message: 'hi' } })).toEqual(['cron', 'every_ms']);
    expect(await paths({ kind: 'plan_chat', idea_id: aliceIdea, payload: { message: 'hi' }, every_ms: 500 })).toEqual(['every_ms']);
    expect(await paths(nightlyChat(aliceIdea, { timezone: 'Mars/Olympus_Mons' }))).toEqual(['timezone']);
    expect(await paths(nightlyChat(aliceIdea, { payload: {} }))).toEqual(['payload.message']);
    expect(await paths(nightlyChat(aliceIdea, { payload: { message: 'hi', extra: 1 } }))).toEqual(['payload']);
    expect(await paths({ kind: 'idea_grill', task_id: aliceTask, cron: '0 2 * * *' })).toEqual(['idea_id', 'task_id']);
    expect(await paths({ kind: 'sprint_implementation', idea_id: aliceIdea, cron: '0 2 * * *' })).toEqual(['sprint_id', 'idea_id']);
    expect(await paths({ kind: 'sprint_implementation', sprint_id: aliceIdea, cron: '0 2 * * *', payload: { mode: 'all' } })).toEqual([
      'payload.mode',
    ]);
    expect(await paths({ kind: 'fortnightly', idea_id: aliceIdea, cron: '0 2 * * *' })).toEqual(['kind']);
    const both = await call('POST', '/api/v1/schedules', nightlyChat(aliceIdea, { payload: {}, cron: 'x y' }), alice, 422);
    expect(both.error.details.issues.map((issue: { path: string }) => issue.path)).toEqual(['payload.message', 'cron']);
  });

  it("answers 404 for another owner's subject and a missing one, as enqueue does", async () => {
    const foreign = await call('POST', '/api/v1/schedules', nightlyChat(bobIdea), alice, 404);
    expect(foreign.error).toMatchObject({ code: 'not_found', message: `idea ${bobIdea} does not exist` });
    const missing = '0199a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d';
    await call('POST', '/api/v1/schedules', nightlyChat(missing), alice, 404);
    await call('POST', '/api/v1/schedules', { kind: 'sprint_implementation', sprint_id: missing, cron: '0 2 * * *' }, alice, 404);
  });

  it('needs the enqueue scope to make, change or delete a schedule, and read to list', async () => {
    const reader = { authorization: `Bearer ${await api.token(['read'], 'alice')}` };
    await call('POST', '/api/v1/schedules', nightlyChat(aliceIdea), reader, 403);
    const created = await call('POST', '/api/v1/schedules', nightlyChat(aliceIdea), alice, 201);
    await call('PATCH', `/api/v1/schedules/${created.id}`, { enabled: false }, reader, 403);
    await call('DELETE', `/api/v1/schedules/${created.id}`, undefined, reader, 403);
    await call('GET', `/api/v1/schedules/${created.id}`, undefined, reader, 200);
    await call('PATCH', `/api/v1/schedules/${created.id}`, {}, alice, 422);
  });

  it('keeps a schedule made while Redis is away, and one sweep installs its scheduler', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
    dead.disconnect();
    const away = createJobQueues({ connection: dead, layout: env.layout, logger: env.logger });
    try {
      const row = await createSchedule(
        { db: env.database.db, queues: away, logger: env.logger },
        { kind: 'PLAN_CHAT', idea_id: aliceIdea, payload: { message: 'hi' }, every_ms: 600_000 },
        { actorTokenId: null, ownerId: 'alice' },
      );
      expect(await scheduler(row.id)).toBeUndefined();
      const sweepOnce = () =>
        sweep({
          db: env.database.db,
          queues: api.queues,
          logger: env.logger,
          leaseMs: 60_000,
          staleClaimMs: 60_000,
          maxRetries: 2,
          reconcileGraceMs: 0,
        });
      const report = await sweepOnce();
      expect(report.schedulesInstalled).toBe(1);
      expect(await scheduler(row.id)).toMatchObject({ revision: 1, everyMs: 600_000 });
      // Installed schedulers are left alone: a second sweep installs nothing.
      const again = await sweepOnce();
      expect(again).toMatchObject({ schedulesInstalled: 0, schedulesRemoved: 0 });
    } finally {
      await away.close();
    }
  });
});
