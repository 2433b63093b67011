/**
 * Issue 18, point 2: the organisation's spend limit pauses the provider's kinds until an admin
 * resumes it. Jobs wait QUEUED (none fails, none is retried in a loop while paused), GET
 * /api/v1/providers shows why and since when, only an admin may resume, and after the resume
 * every job runs to DONE.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeAnthropic, spendLimitError, startFakeAnthropic, textMessage } from '../helpers/fake-anthropic.js';
import {
  heartbeatsPass,
  jobRows,
  type LimitsWorld,
  providerHistory,
  providerView,
  startLimitsWorld,
  waitAllEnded,
} from '../helpers/limits-world.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { waitFor } from '../helpers/wait-for.js';

let fake: FakeAnthropic;
let world: LimitsWorld;
let product: string;

beforeAll(async () => {
  fake = await startFakeAnthropic({ whenEmpty: textMessage('# questions', { inputTokens: 50, outputTokens: 20 }) });
  world = await startLimitsWorld({
    // A rate limit without a time would end in 300 ms (SHORT_PAUSES): a spend limit taken for one
    // would be retried many times in the heartbeats this test waits through.
    env: { AGENT: 'anthropic', ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: fake.baseURL },
    kinds: ['IDEA_GRILL'],
    // One at a time, so that exactly one request meets the limit before the queue is held.
    concurrency: 1,
  });
  product = await createProduct(world.db);
});
afterAll(async () => {
  await world?.close();
  await fake?.close();
});

describe('a spend limit', () => {
  it('keeps the jobs queued until an admin resumes the provider, then they all run', async () => {
    fake.respondWith(spendLimitError());
    const before = fake.requests.length;
    const ideas = await createIdeas(world.db, product, 5, 'DRAFT');
    const { body } = await world.api.call('POST', '/api/v1/jobs/batch', {
      jobs: ideas.map((idea_id) => ({ kind: 'idea_grill', idea_id })),
    });
    const ids: string[] = body.jobs.map((job: { id: string }) => job.id);

    const paused = await waitFor('the provider to be paused for its spend limit', async () => {
      const view = await providerView(world, 'anthropic');
      return view?.status === 'paused' ? view : undefined;
    });
    expect(paused).toMatchObject({ name: 'anthropic', status: 'paused', reason: 'spend_limit', until: null, pause_count: 1 });
    expect(paused.kinds).toContain('idea_grill');
    expect(new Date(paused.since as string).getTime()).not.toBeNaN();
    expect(String(paused.message)).toMatch(/spend|limit/i);

    // Ten heartbeats (2 s): time for any loop of retries to show itself.
    await heartbeatsPass(world.db, world.pools[0]!.identity.workerId, 10);
    expect(fake.requests.length - before).toBe(1);
    const waiting = await jobRows(world.db, ids);
    expect(waiting.map((row) => row.status)).toEqual(ids.map(() => 'QUEUED'));
    expect((await providerView(world, 'anthropic'))?.status).toBe('paused');

    // Only an admin resumes.
    const owner = await world.api.token(['read', 'write', 'enqueue'], 'owner-a');
    const refused = await world.api.call('POST', '/api/v1/providers/anthropic/resume', {}, { authorization: `Bearer ${owner}` });
    expect(refused.status).toBe(403);
    expect((await providerView(world, 'anthropic'))?.status).toBe('paused');

    const resumed = await world.api.call('POST', '/api/v1/providers/anthropic/resume', {});
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ name: 'anthropic', status: 'active' });

    // A worker that met the limit asks its queue again after SPEND_LIMIT_RECHECK_MS.
    const rows = await waitAllEnded(world.db, ids, 30_000);
    expect(rows.filter((row) => row.status !== 'DONE').map((row) => [row.id, row.status, row.error])).toEqual([]);
    expect(rows.map((row) => row.attempt_count)).toEqual(rows.map(() => 1));
    expect(fake.requests.length - before).toBe(1 + 5);

    const history = (await providerHistory(world.db, 'anthropic')).filter((row) => row.from_status !== null);
    expect(history.map((row) => [row.to_status, row.trigger])).toEqual([
      ['PAUSED', 'spend_limit_reached'],
      ['ACTIVE', 'admin_resumes'],
    ]);
    await waitFor('the pause and the resume as live events', () => {
      const types = world.events.filter((owned) => owned.event.entity === 'provider').map((owned) => owned.event.type);
      return types.includes('provider_paused') && types.includes('provider_resumed');
    });
  });

  it('answers a resume of an active provider with its view, 200', async () => {
    const again = await world.api.call('POST', '/api/v1/providers/anthropic/resume', {});
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ name: 'anthropic', status: 'active' });
  });
});
