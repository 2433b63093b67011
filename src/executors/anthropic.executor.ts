/**
 * Runs a prompt as one Messages API call through the official SDK. The SDK owns retries of
 * 408/409/429/5xx and connection errors (with backoff and `retry-after`); this module adds the
 * job's log lines, the cost estimate and the mapping of SDK errors onto the executor errors.
 */
import Anthropic, { APIError, type Middleware } from '@anthropic-ai/sdk';
import { coerceError } from '../errors/app-error.js';
import {
  AgentAbortedError,
  AgentFailedError,
  abortReason,
  parseJsonOutput,
  type AgentOutput,
  type AgentRequest,
  type Executor,
} from './executor.js';

export interface AnthropicExecutorOptions {
  apiKey: string;
  /** @defaultValue `https://api.anthropic.com` */
  baseURL?: string;
  model: string;
  maxTokens: number;
  /** Retries after the first attempt, done by the SDK. */
  maxRetries: number;
  /** Per HTTP attempt; the job's own deadline arrives through the request's signal. */
  timeoutMs: number;
}

const DEFAULT_BASE_URL = 'https://api.anthropic.com';

export function createAnthropicExecutor(options: AnthropicExecutorOptions): Executor {
  const client = new Anthropic({
    apiKey: options.apiKey,
    // Explicit, so the SDK does not fall back to reading ANTHROPIC_BASE_URL itself: config.ts
    // is the one reader of the environment.
    baseURL: options.baseURL ?? DEFAULT_BASE_URL,
    maxRetries: options.maxRetries,
    timeout: options.timeoutMs,
  });
  const agent = `anthropic:${options.model}`;

  return {
    name: 'anthropic',
    provider: 'anthropic',
    async run(request: AgentRequest): Promise<AgentOutput> {
      const { signal, log, prompt } = request;
      if (signal.aborted) throw new AgentAbortedError(abortReason(signal));

      let message: Anthropic.Message;
      try {
        message = await client.messages.create(
          {
            model: options.model,
            max_tokens: options.maxTokens,
            // A kind without instructions sends no system prompt at all, rather than an empty one.
            ...(prompt.system ? { system: prompt.system } : {}),
            messages: [{ role: 'user', content: prompt.user }],
          },
          { signal, middleware: [logRetries(log, options.maxRetries)] },
        );
      } catch (thrown) {
        if (signal.aborted) throw new AgentAbortedError(abortReason(signal));
        throw toAgentFailedError(thrown);
      }

      const text = message.content.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('');
      if (message.stop_reason === 'max_tokens') {
        log(`anthropic: output truncated at max_tokens=${options.maxTokens}; the answer may be incomplete`);
      }
      const { input_tokens: inputTokens, output_tokens: outputTokens } = message.usage;
      return {
        text,
        data: parseJsonOutput(text),
        usage: { inputTokens, outputTokens, costUsd: estimateCostUsd(options.model, inputTokens, outputTokens) },
        agent,
      };
    },
  };
}

/**
 * The SDK retries inside one `create()` call and says nothing about it at its default log
 * level. Middleware runs once per HTTP attempt and sees the attempt number in the
 * `x-stainless-retry-count` header, which is enough to put each retry in the job's log.
 */
function logRetries(log: (line: string) => void, maxRetries: number): Middleware {
  let previousProblem = 'an error';
  return async (request, next) => {
    const attempt = Number(new Headers(request.headers).get('x-stainless-retry-count') ?? '0');
    if (attempt > 0) log(`anthropic: retry ${attempt} of ${maxRetries} after ${previousProblem}`);
    try {
      const response = await next(request);
      if (!response.ok) previousProblem = `HTTP ${response.status}`;
      return response;
    } catch (thrown) {
      previousProblem = coerceError(thrown).message;
      throw thrown;
    }
  };
}

function toAgentFailedError(thrown: unknown): AgentFailedError {
  const error = coerceError(thrown);
  if (error instanceof APIError) {
    // Connection errors and timeouts are APIErrors too, with no status and no type.
    return new AgentFailedError(`anthropic API call failed: ${error.message}`, {
      status: error.status ?? null,
      type: error.type ?? null,
    });
  }
  return new AgentFailedError(`anthropic API call failed: ${error.message}`);
}

interface ListPrice {
  modelPrefix: string;
  /** USD per million input tokens. */
  input: number;
  /** USD per million output tokens. */
  output: number;
}

/**
 * List prices in USD per million tokens (standard tier, no batch or cache discounts), as
 * published by Anthropic and collected in simonw/llm-prices in November 2026. They change and
 * new families appear: this is an estimate for dashboards and budgets, not billing; check
 * https://claude.com/pricing when touching it. First matching prefix wins, so exceptions to a
 * family's price come before the family.
 */
const LIST_PRICES: readonly ListPrice[] = [
  { modelPrefix: 'claude-opus-5-5', input: 4, output: 20 },
  // Opus 4 and 4.1 (`claude-opus-4-0`, `claude-opus-4-20250514`, `claude-opus-4-1...`).
  { modelPrefix: 'claude-opus-4-0', input: 15, output: 75 },
  { modelPrefix: 'claude-opus-4-1', input: 15, output: 75 },
  { modelPrefix: 'claude-opus-4-2025', input: 15, output: 75 },
  { modelPrefix: 'claude-opus', input: 5, output: 25 },
  { modelPrefix: 'claude-sonnet-4', input: 3, output: 15 },
  { modelPrefix: 'claude-sonnet', input: 2, output: 10 },
  { modelPrefix: 'claude-haiku', input: 1, output: 5 },
];

/**
 * Unknown models (new families, proxies) are priced like Sonnet 4: a mid-range guess that keeps
 * budgets counting, where 0 would make their spend invisible.
 */
const FALLBACK_PRICE: ListPrice = { modelPrefix: '', input: 3, output: 15 };

export function estimateCostUsd(model: string, inputTokens: number, outputTokens: number): number {
  const price = LIST_PRICES.find((entry) => model.startsWith(entry.modelPrefix)) ?? FALLBACK_PRICE;
  return (inputTokens * price.input + outputTokens * price.output) / 1_000_000;
}
