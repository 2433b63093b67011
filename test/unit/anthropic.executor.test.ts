import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAnthropicExecutor, estimateCostUsd, type AnthropicExecutorOptions } from '../../src/executors/anthropic.executor.js';
import { AgentAbortedError, AgentFailedError, type AgentRequest } from '../../src/executors/executor.js';
import { apiError, startFakeAnthropic, textMessage, type FakeAnthropic } from '../helpers/fake-anthropic.js';
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

  it('succeeds after a 429 and a 500, logging each retry', async () => {
    fake.respondWith(apiError(429, 'rate_limit_error'), apiError(500, 'api_error'), textMessage('third time lucky'));
    const req = request();

    const output = await executor({ maxRetries: 2 }).run(req);

    expect(output.text).toBe('third time lucky');
    expect(fake.requests).toHaveLength(3);
    expect(req.lines).toEqual(['anthropic: retry 1 of 2 after HTTP 429', 'anthropic: retry 2 of 2 after HTTP 500']);
  });

  it('fails with the status and error type after maxRetries + 1 attempts of a persistent 500', async () => {
    await fake.close();
    fake = await startFakeAnthropic({ whenEmpty: apiError(500, 'api_error', { message: 'the fake is down' }) });

    const failure = await executor({ maxRetries: 2 })
      .run(request())
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(AgentFailedError);
    expect((failure as AgentFailedError).details).toEqual({ status: 500, type: 'api_error' });
    expect((failure as AgentFailedError).message).toContain('the fake is down');
    expect(fake.requests).toHaveLength(3);
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
