/**
 * Issue 19, point 1: an admin's override of OWNER_MAX_RUNNING for one owner, over the API.
 * `GET /api/v1/owners/{owner}/concurrency` answers `{owner_id, max_running, source, running,
 * queued}` to admins and to the owner itself; `PUT` (admin) sets the owner's own cap (a number, or
 * null for none), `DELETE` (admin) returns the owner to the fleet's default. The cap counts the
 * owner's jobs of every kind together, and a cap an admin raises or lifts lets parked jobs go
 * without waiting out their recheck (set far beyond any wait here: only a wake can start them).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDryRunGate, removeDryRunGates } from '../helpers/dry-run-gate.js';
import { heartbeatsPass, jobRows, type LimitsWorld, startLimitsWorld, waitAllEnded } from '../helpers/limits-world.js';
import { heldCount, mostHeldInHistory } from '../helpers/owner-slots.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { waitFor } from '../helpers/wait-for.js';

let world: LimitsWorld;
let ownerA: Record<string, string>;

beforeAll(async () => {
  world = await startLimitsWorld({
    env: { OWNER_MAX_RUNNING: '2', OWNER_CAP_RECHECK_MS: '600000' },
    kinds: ['IDEA_GRILL', 'PLAN_CHAT'],
    concurrency: 5,
  });
  ownerA = { authorization: `Bearer ${await world.api.token(['read', 'write', 'enqueue'], 'owner-a')}` };
});
afterAll(async () => {
  removeDryRunGates();
  await world?.close();
});

const concurrencyOf = (owner: string, headers?: Record<string, string>) =>
  world.api.call('GET', `/api/v1/owners/${owner}/concurrency`, undefined, headers);

/** Grills and plan chats of new ideas of the owner's product, enqueued by an admin; held at the marker's gate, if given one. */
async function heldJobs(owner: string, counts: { grills: number; chats: number }, marker: string): Promise<string[]> {
  const product = await createProduct(world.db, owner, `${owner}'s product`);
  const prompt = marker ? `Held until the test lets it go ${marker}` : 'Run at once.';
  const grills = await createIdeas(world.db, product, counts.grills, 'DRAFT', prompt);
  const chats = await createIdeas(world.db, product, counts.chats, 'PLAN_READY', prompt);
  const response = await world.api.call('POST', '/api/v1/jobs/batch', {
    jobs: [
      ...grills.map((idea_id) => ({ kind: 'idea_grill', idea_id })),
      ...chats.map((idea_id) => ({ kind: 'plan_chat', idea_id, payload: { message: `Go on ${marker}`.trim() } })),
    ],
  });
  expect(response.status).toBe(202);
  return response.body.jobs.map((job: { id: string }) => job.id);
}

const statusesOf = async (ids: readonly string[]) => (await jobRows(world.db, ids)).map((row) => row.status).sort();

/** Several heartbeats of the world's worker: a while in which something must not happen. */
const aWhile = () => heartbeatsPass(world.db, world.pools[0]!.identity.workerId, 5);

describe("an owner's cap over the API", () => {
  it('answers the fleet default until an admin sets one, counting running and queued jobs of every kind', async () => {
    const fresh = await concurrencyOf('owner-a');
    expect(fresh.status).toBe(200);
    expect(fresh.body).toEqual({ owner_id: 'owner-a', max_running: 2, source: 'default', running: 0, queued: 0 });

    const set = await world.api.call('PUT', '/api/v1/owners/owner-a/concurrency', { max_running: 1 });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ owner_id: 'owner-a', max_running: 1, source: 'owner' });

    // Two grills and two chats: one slot between the four of them.
    const gate = createDryRunGate();
    const ids = await heldJobs('owner-a', { grills: 2, chats: 2 }, gate.marker);
    await waitFor('one of the jobs to run', async () => (await heldCount(world.db, 'owner-a')) >= 1);
    await aWhile();
    expect(await statusesOf(ids)).toEqual(['QUEUED', 'QUEUED', 'QUEUED', 'RUNNING']);
    const capped = await concurrencyOf('owner-a', ownerA);
    expect(capped.status).toBe(200);
    expect(capped.body).toEqual({ owner_id: 'owner-a', max_running: 1, source: 'owner', running: 1, queued: 3 });

    // Back to the default of 2: a parked job starts, without waiting out its recheck.
    const removed = await world.api.call('DELETE', '/api/v1/owners/owner-a/concurrency');
    expect([200, 204]).toContain(removed.status);
    expect((await concurrencyOf('owner-a')).body).toMatchObject({ max_running: 2, source: 'default' });
    await waitFor('a second job to run at the default cap', async () => (await heldCount(world.db, 'owner-a')) >= 2);
    await aWhile();
    expect(await statusesOf(ids)).toEqual(['QUEUED', 'QUEUED', 'RUNNING', 'RUNNING']);

    // No cap at all for this owner: all four run.
    const lifted = await world.api.call('PUT', '/api/v1/owners/owner-a/concurrency', { max_running: null });
    expect(lifted.status).toBe(200);
    expect(lifted.body).toMatchObject({ owner_id: 'owner-a', max_running: null, source: 'owner' });
    await waitFor('every job to run without a cap', async () => (await heldCount(world.db, 'owner-a')) === 4);

    gate.open();
    const ended = await waitAllEnded(world.db, ids);
    expect(ended.map((row) => [row.status, row.attempt_count])).toEqual(ids.map(() => ['DONE', 1]));
    // The history agrees: one at a time, then two, then four.
    expect(await mostHeldInHistory(world.db, 'owner-a')).toBe(4);
  });

  it('holds an owner capped at 0 entirely, spending nothing, until the cap is removed', async () => {
    expect((await world.api.call('PUT', '/api/v1/owners/owner-c/concurrency', { max_running: 0 })).status).toBe(200);
    const [id] = await heldJobs('owner-c', { grills: 1, chats: 0 }, '');
    await aWhile();
    const [held] = await jobRows(world.db, [id!]);
    expect([held!.status, held!.attempt_count]).toEqual(['QUEUED', 0]);
    expect((await concurrencyOf('owner-c')).body).toEqual({ owner_id: 'owner-c', max_running: 0, source: 'owner', running: 0, queued: 1 });

    await world.api.call('DELETE', '/api/v1/owners/owner-c/concurrency');
    const [done] = await waitAllEnded(world.db, [id!]);
    expect([done!.status, done!.attempt_count]).toEqual(['DONE', 1]);
  });

  it('shows an owner only their own cap, and lets only admins change caps', async () => {
    const stranger = { authorization: `Bearer ${await world.api.token(['read', 'write', 'enqueue'], 'owner-b')}` };
    expect((await concurrencyOf('owner-b', stranger)).status).toBe(200);
    expect([403, 404]).toContain((await concurrencyOf('owner-a', stranger)).status);
    for (const [method, body] of [
      ['PUT', { max_running: 5 }],
      ['DELETE', undefined],
    ] as const) {
      expect([403, 404]).toContain((await world.api.call(method, '/api/v1/owners/owner-a/concurrency', body, stranger)).status);
      expect([403, 404]).toContain((await world.api.call(method, '/api/v1/owners/owner-b/concurrency', body, stranger)).status);
    }
    expect((await world.api.call('GET', '/api/v1/owners/owner-a/concurrency', undefined, { authorization: '' })).status).toBe(401);
    // Nothing changed.
    expect((await concurrencyOf('owner-b')).body).toMatchObject({ max_running: 2, source: 'default' });
  });

  it('refuses a bad body with 422 naming max_running', async () => {
    for (const body of [{ max_running: -1 }, { max_running: 1.5 }, { max_running: 'two' }, {}]) {
      const answer = await world.api.call('PUT', '/api/v1/owners/owner-a/concurrency', body);
      expect({ body, status: answer.status }).toEqual({ body, status: 422 });
      expect(JSON.stringify(answer.body.error)).toContain('max_running');
    }
  });
});

describe('a fleet without OWNER_MAX_RUNNING', () => {
  it('caps nobody by default, and an owner only by their own cap', async () => {
    const other = await startLimitsWorld({ pools: 0 });
    try {
      expect((await other.api.call('GET', '/api/v1/owners/owner-d/concurrency')).body).toEqual({
        owner_id: 'owner-d',
        max_running: null,
        source: 'none',
        running: 0,
        queued: 0,
      });
      await other.api.call('PUT', '/api/v1/owners/owner-d/concurrency', { max_running: 3 });
      expect((await other.api.call('GET', '/api/v1/owners/owner-d/concurrency')).body).toMatchObject({ max_running: 3, source: 'owner' });
    } finally {
      await other.close();
    }
  });
});
