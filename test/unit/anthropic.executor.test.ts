import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BudgetLimits, createUsageMeter, NO_LIMITS } from '../../src/executors/usage-meter.js';
import { createAnthropicExecutor, estimateCostUsd, type AnthropicExecutorOptions } from '../../src/executors/anthropic.executor.js';
import { AgentAbortedError, AgentFailedError, type AgentRequest } from '../../src/executors/executor.js';
import { isSpendLimitRefusal, retryAfterMsOf } from '../../src/executors/provider-errors.js';
import { ProviderLimitError } from '../../src/errors/provider-limit.js';
import {
  apiError,
  spendLimitError,
  startFakeAnthropic,
  streamedMessage,
  textMessage,
  type FakeAnthropic,
} from '../helpers/fake-anthropic.js';
import { waitFor } from '../helpers/wait-for.js';

const API_KEY = 'sk-ant-test-key';

let fake: FakeAnthropic;

beforeEach(async () => {
  fake = await startFakeAnthropic();
});

afterEach(async () => {
  await fake.close();
});

function executor(overrides: Partial<AnthropicExecutorOptions> = {}) {
  return createAnthropicExecutor({
    apiKey: API_KEY,
    baseURL: fake.baseURL,
    // claude-sonnet-4-5 (the config default) makes the SDK print a deprecation warning.
    model: 'claude-sonnet-4-6',
    maxTokens: 1024,
    maxRetries: 2,
    timeoutMs: 10_000,
    ...overrides,
  });
}

function request(overrides: Partial<AgentRequest> = {}): AgentRequest & { lines: string[] } {
  const lines: string[] = [];
  return {
    jobId: 'job-1',
    kind: 'IDEA_GRILL',
    prompt: { system: 'You grill ideas.', user: 'Grill this: a fleet of agents.' },
    signal: new AbortController().signal,
    log: (line) => lines.push(line),
    lines,
    ...overrides,
  };
}

describe('anthropic executor', () => {
  it('returns the text, usage and list-price cost of a successful answer', async () => {
    fake.respondWith(textMessage('{"verdict":"promising"}', { inputTokens: 1000, outputTokens: 2000 }));

    const output = await executor().run(request());

    expect(output).toEqual({
      text: '{"verdict":"promising"}',
      data: { verdict: 'promising' },
      usage: { inputTokens: 1000, outputTokens: 2000, costUsd: expect.closeTo(0.033, 10) },
      agent: 'anthropic:claude-sonnet-4-6',
    });
  });

  it('sends the model, max tokens, system prompt, user prompt and api key', async () => {
    await executor({ model: 'claude-haiku-4-5', maxTokens: 77 }).run(request());

    expect(fake.requests).toHaveLength(1);
    const [received] = fake.requests;
    expect(received?.path).toBe('/v1/messages');
    // SDK 1.x sends the key as `Authorization: Bearer`, not `x-api-key`; the fake accepts both.
    expect(received?.apiKey).toBe(API_KEY);
    expect(received?.body).toMatchObject({
      model: 'claude-haiku-4-5',
      max_tokens: 77,
      system: 'You grill ideas.',
      messages: [{ role: 'user', content: 'Grill this: a fleet of agents.' }],
    });
  });

  it('returns null data when the answer is not JSON', async () => {
    fake.respondWith(textMessage('# Plan\n\n1. Ship it.'));

    const output = await executor().run(request());

    expect(output.text).toBe('# Plan\n\n1. Ship it.');
    expect(output.data).toBeNull();
  });

  it("succeeds after a 408 and a 409, logging each retry: those are still the SDK's to retry", async () => {
    fake.respondWith(
      apiError(408, 'timeout_error', { retryAfterMs: 10 }),
      apiError(409, 'conflict_error', { retryAfterMs: 10 }),
      textMessage('third time lucky'),
    );
    const req = request();

    const output = await executor({ maxRetries: 2 }).run(req);

    expect(output.text).toBe('third time lucky');
    expect(fake.requests).toHaveLength(3);
    expect(req.lines).toEqual(['anthropic: retry 1 of 2 after HTTP 408', 'anthropic: retry 2 of 2 after HTTP 409']);
  });

  it('fails at once without retrying a 400 invalid request', async () => {
    fake.respondWith(apiError(400, 'invalid_request_error', { message: 'prompt is too long' }));

    const failure = await executor()
      .run(request())
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(AgentFailedError);
    expect((failure as AgentFailedError).details).toEqual({ status: 400, type: 'invalid_request_error' });
    expect(fake.requests).toHaveLength(1);
  });

  it('rejects promptly with AgentAbortedError when the signal aborts while the server holds its answer', async () => {
    fake.respondWith(textMessage('too late', { delayMs: 30_000 }));
    const controller = new AbortController();

    const running = executor()
      .run(request({ signal: controller.signal }))
      .catch((error: unknown) => error);
    await waitFor('the server to hold the request', () => fake.requests.length === 1, { timeoutMs: 5_000 });
    controller.abort('cancelled by user');
    // The server would answer only after 30 s: an AgentAbortedError means the abort ended the run.
    const failure = await running;

    expect(failure).toBeInstanceOf(AgentAbortedError);
    expect((failure as AgentAbortedError).reason).toBe('cancelled by user');
  });

  it('rejects without calling the API when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort('shutting down');

    const failure = await executor()
      .run(request({ signal: controller.signal }))
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(AgentAbortedError);
    expect(fake.requests).toHaveLength(0);
  });

  it('still succeeds when the answer stops at max_tokens, and logs that it was truncated', async () => {
    fake.respondWith(textMessage('half an ans', { stopReason: 'max_tokens' }));
    const req = request();

    const output = await executor({ maxTokens: 5 }).run(req);

    expect(output.text).toBe('half an ans');
    expect(req.lines).toEqual([expect.stringContaining('truncated at max_tokens=5')]);
  });
});

describe('estimateCostUsd', () => {
  it('prices models by family prefix, keeps the older Opus prices apart, and prices unknown models like Sonnet 4', () => {
    expect(estimateCostUsd('claude-haiku-4-5', 1_000_000, 1_000_000)).toBeCloseTo(6);
    expect(estimateCostUsd('claude-opus-4-5', 1_000_000, 0)).toBeCloseTo(5);
    expect(estimateCostUsd('claude-opus-4-1-20250805', 1_000_000, 0)).toBeCloseTo(15);
    expect(estimateCostUsd('claude-sonnet-5', 1_000_000, 1_000_000)).toBeCloseTo(12);
    expect(estimateCostUsd('some-proxy-model', 1_000_000, 1_000_000)).toBeCloseTo(18);
  });
});

/** What a run threw. */
async function thrownBy(run: Promise<unknown>): Promise<unknown> {
  return run.then(
    () => {
      throw new Error('the run succeeded');
    },
    (error: unknown) => error,
  );
}

describe('anthropic executor: provider refusals', () => {
  it('a 429 is a rate limit for its retry-after-ms, made once: the SDK does not retry it', async () => {
    fake.respondWith(apiError(429, 'rate_limit_error', { retryAfterMs: 4_500, retryAfterSeconds: 5 }));

    const failure = await thrownBy(executor({ maxRetries: 2 }).run(request()));

    expect(failure).toBeInstanceOf(ProviderLimitError);
    expect(failure).toMatchObject({ provider: 'anthropic', limit: 'rate_limit', retryAfterMs: 4_500 });
    expect(fake.requests).toHaveLength(1);
  });

  it('a 429 with only retry-after in seconds waits that many seconds', async () => {
    fake.respondWith(apiError(429, 'rate_limit_error', { retryAfterSeconds: 30 }));

    const failure = await thrownBy(executor().run(request()));

    expect(failure).toMatchObject({ limit: 'rate_limit', retryAfterMs: 30_000 });
  });

  it('a 429 with retry-after as an HTTP date waits until that date', async () => {
    const at = new Date(Date.now() + 90_000);
    fake.respondWith(apiError(429, 'rate_limit_error', { headers: { 'retry-after': at.toUTCString() } }));

    const failure = (await thrownBy(executor().run(request()))) as ProviderLimitError;

    expect(failure.limit).toBe('rate_limit');
    // An HTTP date has whole seconds: within a second (and the test's own time) of 90 s.
    expect(failure.retryAfterMs).toBeGreaterThan(85_000);
    expect(failure.retryAfterMs).toBeLessThanOrEqual(90_000);
  });

  it('a 429 without retry-after waits for the reset of the exhausted rate limit', async () => {
    fake.respondWith(apiError(429, 'rate_limit_error', { rateLimit: { limit: 'output-tokens', resetAt: Date.now() + 42_000 } }));

    const failure = (await thrownBy(executor().run(request()))) as ProviderLimitError;

    expect(failure.limit).toBe('rate_limit');
    expect(failure.retryAfterMs).toBeGreaterThan(38_000);
    expect(failure.retryAfterMs).toBeLessThanOrEqual(42_000);
  });

  it('a 429 with the spend-limit code is the spend limit, with no time', async () => {
    fake.respondWith(spendLimitError());

    const failure = await thrownBy(executor().run(request()));

    expect(failure).toBeInstanceOf(ProviderLimitError);
    expect(failure).toMatchObject({ limit: 'spend_limit', retryAfterMs: null });
    expect(fake.requests).toHaveLength(1);
  });

  it('a 400 in the words of a spend limit an organisation set is the spend limit', async () => {
    fake.respondWith(spendLimitError({ status: 400 }));

    const failure = await thrownBy(executor().run(request()));

    expect(failure).toMatchObject({ limit: 'spend_limit', retryAfterMs: null });
  });

  it("a 400 saying the credit balance is too low is the spend limit; another 400 is the job's failure", async () => {
    fake.respondWith(
      apiError(400, 'invalid_request_error', {
        message: 'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.',
      }),
      apiError(400, 'invalid_request_error', { message: 'max_tokens: must be at most 64000' }),
    );

    expect(await thrownBy(executor().run(request()))).toMatchObject({ limit: 'spend_limit' });
    expect(await thrownBy(executor().run(request()))).toBeInstanceOf(AgentFailedError);
  });

  it.each([
    [529, 'overloaded_error'],
    [500, 'api_error'],
    [502, 'api_error'],
    [503, 'api_error'],
    [504, 'api_error'],
  ])('a %i %s is an overload with no time, made once', async (status, type) => {
    fake.respondWith(apiError(status, type));

    const failure = await thrownBy(executor({ maxRetries: 2 }).run(request()));

    expect(failure).toBeInstanceOf(ProviderLimitError);
    expect(failure).toMatchObject({ limit: 'overloaded', retryAfterMs: null });
    expect(fake.requests).toHaveLength(1);
  });

  it('a 529 with retry-after waits that long', async () => {
    fake.respondWith(apiError(529, 'overloaded_error', { retryAfterSeconds: 7 }));

    expect(await thrownBy(executor().run(request()))).toMatchObject({ limit: 'overloaded', retryAfterMs: 7_000 });
  });

  it('a refused connection is an overload, tried once', async () => {
    const { baseURL } = fake;
    await fake.close();

    const failure = await thrownBy(executor({ baseURL, maxRetries: 2 }).run(request()));
    // The afterEach closes it again: a fresh one keeps that harmless.
    fake = await startFakeAnthropic();

    expect(failure).toBeInstanceOf(ProviderLimitError);
    expect(failure).toMatchObject({ limit: 'overloaded', retryAfterMs: null });
  });

  it('an overloaded_error event in the middle of a stream is an overload', async () => {
    fake.respondWith(
      streamedMessage('a long answer that breaks off', { chunks: 5, streamError: { afterChunks: 2, type: 'overloaded_error' } }),
    );

    const failure = await thrownBy(executor().run(request()));

    expect(failure).toBeInstanceOf(ProviderLimitError);
    expect(failure).toMatchObject({ limit: 'overloaded' });
  });

  it('a connection dropped in the middle of a stream is an overload', async () => {
    fake.respondWith(streamedMessage('a long answer that breaks off', { chunks: 5, chunkDelayMs: 5, dropAfterChunks: 2 }));

    const failure = await thrownBy(executor().run(request()));

    expect(failure).toBeInstanceOf(ProviderLimitError);
    expect(failure).toMatchObject({ limit: 'overloaded', retryAfterMs: null });
    expect((failure as ProviderLimitError).message).toMatch(/broke off|before message_stop/);
  });

  it('every request inside a rate-limit window is refused with the time left', async () => {
    fake.rateLimitWindow(Date.now() + 3_000);

    const failure = (await thrownBy(executor().run(request()))) as ProviderLimitError;

    expect(failure.limit).toBe('rate_limit');
    expect(failure.retryAfterMs).toBeGreaterThan(2_000);
    expect(failure.retryAfterMs).toBeLessThanOrEqual(3_000);
    expect(fake.requests[0]?.at).toBeGreaterThan(0);
  });
});

describe('anthropic executor: streaming and the meter', () => {
  /** A meter with these ceilings that aborts `controller` as the worker does. */
  function metered(limits: Partial<BudgetLimits>) {
    const controller = new AbortController();
    const meter = createUsageMeter({ limits: { ...NO_LIMITS, ...limits }, stop: () => controller.abort('budget_exceeded') });
    return { controller, meter };
  }

  const MODEL = 'claude-sonnet-4-6';
  const ANSWER = Array.from({ length: 40 }, (_, i) => `Point ${i + 1}: because.\n`).join('');
  const STEPS = [100, 400, 800, 1_600, 3_200];

  it('streams the request and counts input, output, cost and one turn into the meter', async () => {
    fake.respondWith(streamedMessage(ANSWER, { inputTokens: 1_000, chunks: 8, outputTokensSteps: STEPS }));
    const { controller, meter } = metered({});

    const output = await executor({ model: MODEL }).run(request({ signal: controller.signal, meter }));

    expect(fake.requests[0]?.body.stream).toBe(true);
    expect(output.text).toBe(ANSWER);
    expect(output.usage).toEqual({ inputTokens: 1_000, outputTokens: 3_200, costUsd: estimateCostUsd(MODEL, 1_000, 3_200) });
    expect(meter.totals).toMatchObject({ inputTokens: 1_000, outputTokens: 3_200, turns: 1 });
    expect(meter.totals.costUsd).toBeCloseTo(estimateCostUsd(MODEL, 1_000, 3_200), 10);
    expect(fake.requests[0]?.cancelled).toBe(false);
  });

  it('stops a stream that crosses max_cost_usd mid-answer: budget_exceeded, the partial output kept, the request cancelled', async () => {
    const ceiling = (estimateCostUsd(MODEL, 1_000, 400) + estimateCostUsd(MODEL, 1_000, 800)) / 2;
    fake.respondWith(streamedMessage(ANSWER, { inputTokens: 1_000, chunks: 40, chunkDelayMs: 20, outputTokensSteps: STEPS }));
    const { controller, meter } = metered({ maxCostUsd: ceiling });

    const failure = await thrownBy(executor({ model: MODEL }).run(request({ signal: controller.signal, meter })));

    expect(failure).toBeInstanceOf(AgentAbortedError);
    const { reason, details } = failure as AgentAbortedError;
    expect(reason).toBe('budget_exceeded');
    const partial = details.partial_output as string;
    expect(partial.length).toBeGreaterThan(0);
    expect(partial.length).toBeLessThan(ANSWER.length);
    expect(ANSWER.startsWith(partial)).toBe(true);
    expect(meter.exceeded).toMatchObject({ ceiling: 'max_cost_usd', limit: ceiling });
    expect(meter.totals.outputTokens).toBe(800);
    await waitFor('the fake server to see the stream cancelled', () => fake.cancelled() === 1, { timeoutMs: 5_000 });
  });

  it('keeps the partial output when the job is cancelled mid-stream', async () => {
    fake.respondWith(streamedMessage(ANSWER, { chunks: 40, chunkDelayMs: 30 }));
    const controller = new AbortController();
    const req = request({ signal: controller.signal, meter: metered({}).meter });

    const running = thrownBy(executor().run(req));
    await waitFor('some text to stream', () => fake.requests.length === 1 && req.meter!.totals.outputTokens > 2, { timeoutMs: 5_000 });
    controller.abort('cancelled');
    const failure = (await running) as AgentAbortedError;

    expect(failure).toBeInstanceOf(AgentAbortedError);
    expect(failure.reason).toBe('cancelled');
    expect((failure.details.partial_output as string).length).toBeGreaterThan(0);
    expect(ANSWER.startsWith(failure.details.partial_output as string)).toBe(true);
    await waitFor('the fake server to see the stream cancelled', () => fake.cancelled() === 1, { timeoutMs: 5_000 });
  });

  it('asks for no more tokens than max_output_tokens leaves', async () => {
    const { controller, meter } = metered({ maxOutputTokens: 500 });
    meter.add({ outputTokens: 200 });

    await executor({ maxTokens: 8_192 }).run(request({ signal: controller.signal, meter }));
    await executor({ maxTokens: 100 }).run(request({ signal: controller.signal, meter }));

    expect(fake.requests.map((received) => received.body.max_tokens)).toEqual([300, 100]);
  });

  it('estimates output tokens from the text between two reports, and takes the report when it comes', async () => {
    const text = 'x'.repeat(400);
    fake.respondWith(streamedMessage(text, { inputTokens: 0, chunks: 4, chunkDelayMs: 20, outputTokensSteps: [10, 50] }));
    const { controller, meter } = metered({ maxOutputTokens: 100_000 });
    const seen: number[] = [];
    const req = request({ signal: controller.signal, meter });
    const running = executor().run(req);
    await waitFor(
      'the stream to end',
      async () => {
        seen.push(meter.totals.outputTokens);
        return fake.requests[0]?.cancelled === false && meter.totals.outputTokens === 50;
      },
      { timeoutMs: 5_000 },
    );
    await running;
    // Two chunks of 100 characters come before the first report: 25 estimated tokens each.
    expect(seen.some((tokens) => tokens > 10 && tokens !== 50)).toBe(true);
    expect(meter.totals.outputTokens).toBe(50);
  });
});

describe('classifying refusals', () => {
  it('knows a spend limit by its code, its type or its wording, and nothing else', () => {
    const facts = { status: 429, type: 'rate_limit_error', errorCode: null, message: null };
    expect(isSpendLimitRefusal({ ...facts, errorCode: 'enforced_spend_limit_reached' })).toBe(true);
    expect(isSpendLimitRefusal({ ...facts, status: 402, type: 'billing_error' })).toBe(true);
    expect(
      isSpendLimitRefusal({
        ...facts,
        status: 400,
        message: 'You have reached your specified workspace API usage limits. You will regain access on 2027-01-01.',
      }),
    ).toBe(true);
    expect(isSpendLimitRefusal({ ...facts, status: 400, message: 'YOUR CREDIT BALANCE IS TOO LOW to access the API' })).toBe(true);
    expect(isSpendLimitRefusal({ ...facts, message: 'Number of request tokens has exceeded your per-minute rate limit' })).toBe(false);
    expect(isSpendLimitRefusal({ ...facts, status: 500, message: 'spend limit service unavailable' })).toBe(false);
  });

  it("reads retry-after-ms, retry-after in seconds or as a date, then the exhausted limit's reset", () => {
    const now = Date.parse('2026-12-01T00:00:00Z');
    expect(retryAfterMsOf(new Headers({ 'retry-after-ms': '1500.2', 'retry-after': '9' }), now)).toBe(1501);
    expect(retryAfterMsOf(new Headers({ 'retry-after': '2.5' }), now)).toBe(2_500);
    expect(retryAfterMsOf(new Headers({ 'retry-after': 'Tue, 01 Dec 2026 00:01:00 GMT' }), now)).toBe(60_000);
    const resets = new Headers({
      'anthropic-ratelimit-requests-remaining': '3',
      'anthropic-ratelimit-requests-reset': '2026-12-01T00:10:00Z',
      'anthropic-ratelimit-input-tokens-remaining': '0',
      'anthropic-ratelimit-input-tokens-reset': '2026-12-01T00:00:20Z',
      'anthropic-ratelimit-output-tokens-remaining': '0',
      'anthropic-ratelimit-output-tokens-reset': '2026-12-01T00:00:30Z',
    });
    expect(retryAfterMsOf(resets, now, { resetHeaders: true })).toBe(30_000);
    expect(retryAfterMsOf(resets, now)).toBeNull();
    expect(retryAfterMsOf(new Headers(), now, { resetHeaders: true })).toBeNull();
  });
});
