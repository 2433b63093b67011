/**
 * Runs a prompt as one streamed Messages API call through the official SDK, counting usage into
 * the job's meter as the events arrive, so a budget's ceiling stops the answer mid-stream.
 *
 * A provider's refusal (rate limit, spend limit, overload) is thrown as a ProviderLimitError
 * (src/executors/provider-errors.ts) and never retried here: the fleet pauses the provider
 * instead. The SDK keeps its retries of 408/409 answers and per-attempt timeouts.
 *
 * An abort (cancel, timeout, budget_exceeded) stops the stream at once: the request's signal
 * aborts the SDK's fetch, which closes the connection, so the server sees the call cancelled.
 */
import Anthropic, { APIError, type Middleware } from '@anthropic-ai/sdk';
import type { UsageMeter } from './usage-meter.js';
import { coerceError } from '../errors/app-error.js';
import { ProviderLimitError } from '../errors/provider-limit.js';
import {
  AgentAbortedError,
  AgentFailedError,
  abortReason,
  parseJsonOutput,
  type AgentOutput,
  type AgentRequest,
  type Executor,
} from './executor.js';
import { estimateCostUsd } from './list-prices.js';
import { providerLimitOf, refuseSdkRetries } from './provider-errors.js';
import { streamedUsage } from './streamed-usage.js';

export { estimateCostUsd } from './list-prices.js';

export interface AnthropicExecutorOptions {
  apiKey: string;
  /** @defaultValue `https://api.anthropic.com` */
  baseURL?: string;
  model: string;
  maxTokens: number;
  /**
   * Retries after the first attempt, done by the SDK: of 408 and 409 answers and per-attempt
   * timeouts only. Rate limits, overloads and lost connections are the fleet's to wait out.
   */
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
    middleware: [refuseSdkRetries],
  });
  const agent = `anthropic:${options.model}`;

  return {
    name: 'anthropic',
    provider: 'anthropic',
    async run(request: AgentRequest): Promise<AgentOutput> {
      const { signal, log, prompt, meter } = request;
      if (signal.aborted) throw new AgentAbortedError(abortReason(signal), { partial_output: '' });

      const maxTokens = cappedMaxTokens(options.maxTokens, meter);
      const usage = streamedUsage(options.model, meter);
      let text = '';
      let stopReason: string | null = null;
      let ended = false;
      let streaming = false;
      try {
        const stream = await client.messages.create(
          {
            model: options.model,
            max_tokens: maxTokens,
            // A kind without instructions sends no system prompt at all, rather than an empty one.
            ...(prompt.system ? { system: prompt.system } : {}),
            messages: [{ role: 'user', content: prompt.user }],
            stream: true,
          },
          { signal, middleware: [logRetries(log, options.maxRetries)] },
        );
        streaming = true;
        for await (const event of stream) {
          if (event.type === 'message_start') {
            usage.started(event.message.usage.input_tokens, event.message.usage.output_tokens);
          } else if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') {
            text += event.delta.text;
            usage.wrote(event.delta.text.length);
          } else if (event.type === 'message_delta') {
            usage.reported(event.usage.output_tokens, event.usage.input_tokens);
            stopReason = event.delta.stop_reason ?? stopReason;
          } else if (event.type === 'message_stop') {
            ended = true;
          }
          // The meter aborts the signal the moment a ceiling is reached; leaving the loop closes
          // the stream's connection even before the SDK notices the abort.
          if (signal.aborted) break;
        }
      } catch (thrown) {
        if (signal.aborted) throw new AgentAbortedError(abortReason(signal), { partial_output: text });
        const limit = providerLimitOf(thrown);
        if (limit) throw limit;
        // The connection broke off mid-answer (undici's `TypeError: terminated`): the provider's
        // trouble, like a refused connection, not the job's.
        if (streaming && brokeOff(thrown)) {
          throw new ProviderLimitError('anthropic', 'overloaded', null, `anthropic: the stream broke off: ${(thrown as Error).message}`);
        }
        throw toAgentFailedError(thrown);
      }
      // The SDK ends a stream quietly when its request is aborted.
      if (signal.aborted) throw new AgentAbortedError(abortReason(signal), { partial_output: text });
      if (!ended) {
        throw new ProviderLimitError('anthropic', 'overloaded', null, 'anthropic: the stream ended before message_stop');
      }

      if (stopReason === 'max_tokens') {
        log(`anthropic: output truncated at max_tokens=${maxTokens}; the answer may be incomplete`);
      }
      const { inputTokens, outputTokens } = usage.totals();
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
 * A connection lost mid-stream, as undici reports it (`TypeError: terminated`, or a socket error
 * as its cause); any other TypeError is a fault of ours or of the answer's shape, not an overload.
 */
function brokeOff(thrown: unknown): boolean {
  if (!(thrown instanceof TypeError)) return false;
  const cause = (thrown as { cause?: { code?: unknown } }).cause;
  return (
    thrown.message === 'terminated' ||
    (typeof cause?.code === 'string' && (cause.code.startsWith('UND_ERR') || cause.code.startsWith('ECONN')))
  );
}

/** No more output tokens than the job's budget has left (at least 1: the API requires it). */
function cappedMaxTokens(configured: number, meter: UsageMeter | undefined): number {
  const ceiling = meter?.limits.maxOutputTokens;
  if (ceiling === null || ceiling === undefined) return configured;
  return Math.max(1, Math.min(configured, ceiling - meter!.totals.outputTokens));
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
    return new AgentFailedError(`anthropic API call failed: ${error.message}`, {
      status: error.status ?? null,
      type: error.type ?? null,
    });
  }
  return new AgentFailedError(`anthropic API call failed: ${error.message}`);
}
