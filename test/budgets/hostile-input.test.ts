/**
 * Issue 18, what callers may not do: a job's budget that is negative, a string, has a field no
 * budget has or is absurdly large is refused with 422 naming the field (and nothing is enqueued);
 * resuming a provider that does not exist is 404; a read-scope token may not resume one; owner
 * budgets answer only admins (and the owner reading their own), and refuse a bad body.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderLimitError } from '../../src/errors/provider-limit.js';
import { pauseProvider } from '../../src/providers/provider-states.js';
import { type LimitsWorld, startLimitsWorld } from '../helpers/limits-world.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';

let world: LimitsWorld;
let idea: string;

beforeAll(async () => {
  world = await startLimitsWorld({ pools: 0 });
  idea = (await createIdeas(world.db, await createProduct(world.db), 1, 'DRAFT'))[0]!;
});
afterAll(async () => {
  await world?.close();
});

const jobCount = async () =>
  Number(
    (
      await world.db
        .selectFrom('claude_jobs')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

describe('a job budget', () => {
  const refusals: [string, unknown, string][] = [
    ['a negative ceiling', { max_cost_usd: -1 }, 'budget.max_cost_usd'],
    ['a zero ceiling', { max_output_tokens: 0 }, 'budget.max_output_tokens'],
    ['a string', { max_cost_usd: '5' }, 'budget.max_cost_usd'],
    ['a fractional turn count', { max_turns: 1.5 }, 'budget.max_turns'],
    ['a huge number', { max_output_tokens: 1e30 }, 'budget.max_output_tokens'],
    ['an unknown field', { max_cost_usd: 1, max_dollars: 3 }, 'budget'],
    ['an empty budget', {}, 'budget'],
    ['not an object', 'cheap', 'budget'],
  ];
  it.each(refusals)('with %s is refused with 422 naming the field, and nothing is enqueued', async (_what, budget, field) => {
    const before = await jobCount();
    const reply = await world.api.call('POST', '/api/v1/jobs', { kind: 'idea_grill', idea_id: idea, budget });
    expect(reply.status).toBe(422);
    expect(reply.body.error.code).toBe('validation_failed');
    const paths = (reply.body.error.details.issues as { path: string }[]).map((issue) => issue.path);
    expect(paths).toContain(field);
    expect(reply.body.error.message).toContain(field.replace(/^budget\./, ''));
    expect(await jobCount()).toBe(before);
  });

  it('that is valid is kept on the job and shown by GET', async () => {
    const posted = await world.api.call('POST', '/api/v1/jobs', {
      kind: 'idea_grill',
      idea_id: idea,
      budget: { max_cost_usd: 0.5, max_turns: 3 },
    });
    expect(posted.status).toBe(202);
    const { body } = await world.api.call('GET', `/api/v1/jobs/${posted.body.id}`);
    expect(body.budget).toEqual({ max_cost_usd: 0.5, max_turns: 3 });
  });

  it('is refused in a batch with 422 naming the job and the field', async () => {
    const reply = await world.api.call('POST', '/api/v1/jobs/batch', {
      jobs: [{ kind: 'idea_grill', idea_id: idea, budget: { max_turns: -2 } }],
    });
    expect(reply.status).toBe(422);
    const paths = (reply.body.error.details.issues as { path: string }[]).map((issue) => issue.path);
    expect(paths.some((path) => path.endsWith('budget.max_turns'))).toBe(true);
  });
});

describe('resuming a provider', () => {
  it('of an unknown name is 404', async () => {
    const reply = await world.api.call('POST', '/api/v1/providers/no-such-provider/resume', {});
    expect(reply.status).toBe(404);
    expect(reply.body.error.code).toBe('not_found');
  });

  it('with a read-scope token is 403, and the provider stays paused', async () => {
    await pauseProvider(
      world.db,
      {
        provider: 'anthropic',
        limit: 'spend_limit',
        retryAfterMs: null,
        message: new ProviderLimitError('anthropic', 'spend_limit', null, 'spent').message,
        kinds: ['IDEA_GRILL'],
        actorTokenId: null,
      },
      { rateLimitDefaultMs: 1000, backoffBaseMs: 100, backoffMaxMs: 1000 },
    );
    const reader = await world.api.token(['read'], 'owner-a');
    const reply = await world.api.call('POST', '/api/v1/providers/anthropic/resume', {}, { authorization: `Bearer ${reader}` });
    expect(reply.status).toBe(403);
    const list = await world.api.call('GET', '/api/v1/providers', undefined, { authorization: `Bearer ${reader}` });
    expect(list.status).toBe(200);
    expect(list.body.providers.find((p: { name: string }) => p.name === 'anthropic')).toMatchObject({
      status: 'paused',
      reason: 'spend_limit',
    });
    const anonymous = await world.api.call('GET', '/api/v1/providers', undefined, { authorization: '' });
    expect(anonymous.status).toBe(401);
  });
});

describe("an owner's budget", () => {
  it('is set by an admin, read by its owner, hidden from another owner, and refuses a bad body', async () => {
    const set = await world.api.call('PUT', '/api/v1/owners/owner-a/budget', { daily_usd: 2.5 });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({
      owner_id: 'owner-a',
      daily_usd: 2.5,
      source: 'owner',
      spent_usd: 0,
      remaining_usd: 2.5,
      exhausted: false,
    });

    const own = await world.api.token(['read', 'write', 'enqueue'], 'owner-a');
    const mine = await world.api.call('GET', '/api/v1/owners/owner-a/budget', undefined, { authorization: `Bearer ${own}` });
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({ owner_id: 'owner-a', daily_usd: 2.5 });
    expect(mine.body.day).toMatch(/^\d{4}-\d{2}-\d{2}$/);

    const other = await world.api.token(['read', 'write', 'enqueue'], 'owner-b');
    const theirs = await world.api.call('GET', '/api/v1/owners/owner-a/budget', undefined, { authorization: `Bearer ${other}` });
    expect([403, 404]).toContain(theirs.status);
    const ownerSets = await world.api.call('PUT', '/api/v1/owners/owner-a/budget', { daily_usd: 100 }, { authorization: `Bearer ${own}` });
    expect(ownerSets.status).toBe(403);

    for (const bad of [{ daily_usd: -1 }, { daily_usd: 'lots' }, {}, { daily_usd: 1, extra: true }]) {
      const reply = await world.api.call('PUT', '/api/v1/owners/owner-a/budget', bad);
      expect(reply.status, JSON.stringify(bad)).toBe(422);
      expect(reply.body.error.code).toBe('validation_failed');
    }
    expect((await world.api.call('GET', '/api/v1/owners/owner-a/budget')).body.daily_usd).toBe(2.5);

    const unlimited = await world.api.call('PUT', '/api/v1/owners/owner-a/budget', { daily_usd: null });
    expect(unlimited.body).toMatchObject({ daily_usd: null, source: 'owner', exhausted: false });
    const removed = await world.api.call('DELETE', '/api/v1/owners/owner-a/budget');
    expect(removed.status).toBeLessThan(300);
    expect((await world.api.call('GET', '/api/v1/owners/owner-a/budget')).body).toMatchObject({ source: 'none', daily_usd: null });
  });
});
