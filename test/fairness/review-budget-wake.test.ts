/**
 * An owner at their cap whose day is spent: each of their jobs is given back once and waits for
 * BUDGET_RECHECK_MS. The slot a give-back frees must not wake a delivery that waits for the budget
 * (only deliveries parked at the cap are woken), or the job is claimed and given back over and
 * over, writing history each time, as fast as Postgres answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utcDay } from '../../src/util/clock.js';
import { heartbeatsPass, historyOf, type LimitsWorld, startLimitsWorld } from '../helpers/limits-world.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { waitFor } from '../helpers/wait-for.js';

let world: LimitsWorld;

beforeAll(async () => {
  world = await startLimitsWorld({
    env: { OWNER_MAX_RUNNING: '1', OWNER_CAP_RECHECK_MS: '600000', OWNER_DAILY_BUDGET_USD: '1', BUDGET_RECHECK_MS: '600000' },
    kinds: ['IDEA_GRILL'],
    pools: 0,
  });
});
afterAll(async () => {
  await world?.close();
});

const givenBack = async (id: string) =>
  (await historyOf(world.db, 'CLAUDE_JOB', id)).filter((row) => row.trigger === 'owner_budget_spent').length;

describe('an owner at their cap whose day is spent', () => {
  it('has each job given back once, not woken again by the slot its own give-back frees', async () => {
    const product = await createProduct(world.db, 'owner-spent', 'Spent');
    const ids: string[] = [];
    for (const idea of await createIdeas(world.db, product, 2, 'DRAFT')) {
      const answer = await world.api.call('POST', '/api/v1/jobs', { kind: 'idea_grill', idea_id: idea });
      expect(answer.status).toBe(202);
      ids.push(answer.body.id);
    }
    // The day is spent once the jobs are queued (an enqueue after it would be refused).
    await world.db
      .insertInto('owner_daily_spend')
      .values({ owner_id: 'owner-spent', day: utcDay(world.clock.now()), cost_usd: '5' })
      .execute();

    const pool = await world.startPool({ concurrency: 2 });
    await waitFor('the first job to be given back for the spent day', async () => (await givenBack(ids[0]!)) > 0);
    // Many sweeps and heartbeats: time for a loop to show, far less than either recheck.
    await heartbeatsPass(world.db, pool.identity.workerId, 10);

    expect(await givenBack(ids[0]!)).toBe(1);
    expect(await givenBack(ids[1]!)).toBeLessThanOrEqual(1);
    const rows = await world.db.selectFrom('claude_jobs').select(['status', 'attempt_count']).where('id', 'in', ids).execute();
    expect(rows.map((row) => [row.status, row.attempt_count])).toEqual([
      ['QUEUED', 0],
      ['QUEUED', 0],
    ]);
  });
});
