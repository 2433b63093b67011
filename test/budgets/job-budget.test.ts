/**
 * Issue 18, point 4 (a job's own budget): a grill whose streamed answer crosses its max_cost_usd
 * is stopped mid-stream; the job fails budget_exceeded with the ceiling, the usage so far and the
 * partial answer, the usage is stored on the row, and the Messages API saw the request cancelled.
 * Without a ceiling in reach, the same answer completes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { estimateCostUsd } from '../../src/executors/anthropic.executor.js';
import { type FakeAnthropic, startFakeAnthropic, streamedMessage, textMessage } from '../helpers/fake-anthropic.js';
import { type LimitsWorld, startLimitsWorld, waitAllEnded } from '../helpers/limits-world.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { waitFor } from '../helpers/wait-for.js';

const MODEL = 'claude-sonnet-4-6';
const INPUT = 1_000;
/** Cumulative output tokens the stream reports as it goes. */
const STEPS = [100, 400, 800, 1_600, 3_200];
const ANSWER = Array.from({ length: 40 }, (_, i) => `Question ${i + 1}: why?\n`).join('');
/** Crossed at the third report (800 output tokens), long before the stream ends. */
const CEILING = (estimateCostUsd(MODEL, INPUT, 400) + estimateCostUsd(MODEL, INPUT, 800)) / 2;

let fake: FakeAnthropic;
let world: LimitsWorld;
let product: string;

beforeAll(async () => {
  fake = await startFakeAnthropic({ whenEmpty: textMessage('# questions', { inputTokens: 10, outputTokens: 10 }) });
  world = await startLimitsWorld({
    env: { AGENT: 'anthropic', ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: fake.baseURL, ANTHROPIC_MODEL: MODEL },
    kinds: ['IDEA_GRILL'],
    concurrency: 2,
  });
  product = await createProduct(world.db);
});
afterAll(async () => {
  await world?.close();
  await fake?.close();
});

const slowStream = () => streamedMessage(ANSWER, { inputTokens: INPUT, chunks: 40, chunkDelayMs: 40, outputTokensSteps: STEPS });

async function grillWith(budget?: object) {
  const [idea] = await createIdeas(world.db, product, 1, 'DRAFT');
  const posted = await world.api.call('POST', '/api/v1/jobs', { kind: 'idea_grill', idea_id: idea, ...(budget ? { budget } : {}) });
  expect(posted.status).toBe(202);
  return posted.body.id as string;
}

describe('max_cost_usd', () => {
  it('stops a streamed answer that crosses it: budget_exceeded with the partial output and the usage, the request cancelled', async () => {
    fake.respondWith(slowStream());
    const before = fake.requests.length;
    const id = await grillWith({ max_cost_usd: CEILING });
    const [row] = await waitAllEnded(world.db, [id]);
    expect(row!.status).toBe('FAILED');
    const error = row!.error as any;
    expect(error.code).toBe('budget_exceeded');
    expect(error.details).toMatchObject({ ceiling: 'max_cost_usd', limit: CEILING });
    expect(error.details.used).toBeGreaterThanOrEqual(CEILING);
    expect(error.details.usage.input_tokens).toBe(INPUT);
    expect(error.details.usage.output_tokens).toBeGreaterThanOrEqual(800);
    expect(error.details.usage.output_tokens).toBeLessThan(3_200);
    expect(error.details.usage.cost_usd).toBeGreaterThanOrEqual(CEILING);
    expect(error.details.usage.turns).toBe(1);
    const partial = error.details.partial_output as string;
    expect(partial.length).toBeGreaterThan(0);
    expect(partial.length).toBeLessThan(ANSWER.length);
    expect(ANSWER.startsWith(partial)).toBe(true);

    // The usage so far is the row's.
    expect(row!.input_tokens).toBe(INPUT);
    expect(row!.output_tokens).toBe(error.details.usage.output_tokens);
    expect(Number(row!.cost_usd)).toBeCloseTo(error.details.usage.cost_usd, 6);

    const requests = fake.requests.slice(before);
    expect(requests).toHaveLength(1);
    await waitFor('the fake server to see the stream cancelled', () => requests[0]!.cancelled);
    // A budget stop is the job's own failure: no retry job was made for it.
    const retries = await world.db.selectFrom('claude_jobs').select('id').where('retry_of_job_id', '=', id).execute();
    expect(retries).toEqual([]);
  });

  it('lets the same stream finish when the ceiling is out of reach', async () => {
    fake.respondWith(slowStream());
    const id = await grillWith({ max_cost_usd: estimateCostUsd(MODEL, INPUT, 3_200) * 2 });
    const [row] = await waitAllEnded(world.db, [id]);
    expect(row).toMatchObject({ status: 'DONE', input_tokens: INPUT, output_tokens: 3_200 });
    expect(Number(row!.cost_usd)).toBeCloseTo(estimateCostUsd(MODEL, INPUT, 3_200), 6);
  });

  it('announces the stop as a budget_exceeded live event', async () => {
    fake.respondWith(slowStream());
    const id = await grillWith({ max_cost_usd: CEILING });
    await waitAllEnded(world.db, [id]);
    await waitFor(
      'a budget_exceeded event for the job',
      () => world.events.some((owned) => owned.event.type === ('budget_exceeded' as never) && owned.event.entity_id === id),
      // The job has ended: the notice is published right after its failure commits.
      { timeoutMs: 10_000 },
    );
  });
});
