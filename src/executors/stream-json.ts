/**
 * Reads a command agent's stdout one line at a time, as it arrives (the command agent protocol,
 * SPEC "Provider limits and budgets"):
 * - `{"type":"provider_limit","limit":"rate_limit"|"overloaded"|"spend_limit","retry_after_seconds":N}`
 *   (or `"until":"<ISO-8601>"`): the provider refused; the command is stopped at once;
 * - `{"type":"usage","input_tokens":N,"output_tokens":N,"cost_usd":X,"turns":N}`: this run's
 *   cumulative usage so far;
 * - the Claude Code CLI's `--output-format stream-json --verbose` lines: `system` (`init` names
 *   the model; `api_retry` after a 429 is a rate limit: the CLI would retry alone for minutes),
 *   `rate_limit_event` (a `rejected` status is a rate limit until `resetsAt`), `assistant` (usage
 *   per distinct message id, one turn each, cost at the model's list price), `user` (tool
 *   results), `result` (the answer, total cost, usage and turns; an error result with a 429 or
 *   5xx status is a provider limit).
 * Any other line is the answer's text. Usage goes to the job's meter as it arrives; the reader
 * never lowers what it has reported (a later, smaller figure is ignored).
 */
import type { UsageMeter, UsageTotals } from './usage-meter.js';
import type { JsonValue } from '../db/column-types.js';
import { PROVIDER_LIMITS, type ProviderLimit, ProviderLimitError } from '../errors/provider-limit.js';
import { estimateCostUsd } from './list-prices.js';
import { isSpendLimitRefusal } from './spend-limit.js';

type JsonObject = { [key: string]: JsonValue };

export interface StreamReaderOptions {
  /** Whose limits a refusal is (AGENT_PROVIDER). */
  provider: string;
  meter?: UsageMeter | undefined;
  log: (line: string) => void;
  /** @defaultValue Date.now */
  now?: () => number;
}

export interface StreamReader {
  /** Reads one line; returns the provider's refusal when the line says the provider refused. */
  line(text: string): ProviderLimitError | null;
  /** The last refusal a line reported (what an exit code 75 means, when there is one). */
  readonly lastLimit: ProviderLimitError | null;
  /** True once any line of the protocol or of stream-json was read. */
  readonly spoke: boolean;
  /** The answer so far: the result line's text, else the assistant's text, else the other lines. */
  answer(): string;
  /** The result line, when there was one (it becomes the output's data). */
  readonly result: JsonObject | null;
  usage(): UsageTotals;
}

export function createStreamReader(options: StreamReaderOptions): StreamReader {
  const now = options.now ?? Date.now;
  const sent: UsageTotals = { inputTokens: 0, outputTokens: 0, costUsd: 0, turns: 0 };
  /** Each assistant message's usage and cost, by message id: the CLI repeats a message per content block. */
  const messages = new Map<string, { inputTokens: number; outputTokens: number; costUsd: number }>();
  const assistantText: string[] = [];
  const plainLines: string[] = [];
  let model: string | null = null;
  let resultText: string | null = null;
  let result: JsonObject | null = null;
  let lastLimit: ProviderLimitError | null = null;
  let spoke = false;

  /** Raises this run's usage to `totals` and passes the rise on to the meter. */
  const raise = (totals: Partial<UsageTotals>) => {
    const rise: Partial<UsageTotals> = {};
    for (const key of ['inputTokens', 'outputTokens', 'costUsd', 'turns'] as const) {
      const value = totals[key];
      if (value !== undefined && value > sent[key]) {
        rise[key] = value - sent[key];
        sent[key] = value;
      }
    }
    if (Object.keys(rise).length > 0) options.meter?.add(rise);
  };

  const refusal = (limit: ProviderLimit, retryAfterMs: number | null, message: string) => {
    lastLimit = new ProviderLimitError(options.provider, limit, limit === 'spend_limit' ? null : retryAfterMs, message);
    options.log(
      `provider ${options.provider}: ${limit}${retryAfterMs !== null && limit !== 'spend_limit' ? ` for ${retryAfterMs} ms` : ''}: ${message}`,
    );
    return lastLimit;
  };

  const readers: Record<string, (line: JsonObject) => ProviderLimitError | null> = {
    provider_limit(line) {
      const limit = PROVIDER_LIMITS.find((known) => known === line.limit) ?? 'rate_limit';
      const seconds = numberOr(line.retry_after_seconds, null);
      const until = typeof line.until === 'string' ? Date.parse(line.until) : Number.NaN;
      const retryAfterMs = seconds !== null ? Math.ceil(seconds * 1000) : Number.isFinite(until) ? Math.max(0, until - now()) : null;
      return refusal(limit, retryAfterMs, textOr(line.message, 'the command agent reported a provider limit'));
    },
    usage(line) {
      raise({
        inputTokens: numberOr(line.input_tokens, undefined),
        outputTokens: numberOr(line.output_tokens, undefined),
        costUsd: numberOr(line.cost_usd, undefined),
        turns: numberOr(line.turns, undefined),
      });
      return null;
    },
    system(line) {
      if (line.subtype === 'init' && typeof line.model === 'string') model = line.model;
      if (line.subtype !== 'api_retry') return null;
      const status = numberOr(line.error_status, null);
      options.log(`agent: API retry ${line.attempt ?? '?'} of ${line.max_retries ?? '?'} after HTTP ${status ?? 'error'}`);
      // A 429 the CLI would sit out alone, for minutes and in silence: the fleet pauses instead.
      if (status !== 429) return null;
      return refusal('rate_limit', numberOr(line.retry_delay_ms, null), 'the agent CLI was rate limited (HTTP 429)');
    },
    rate_limit_event(line) {
      const info = isObject(line.rate_limit_info) ? line.rate_limit_info : {};
      if (info.status !== 'rejected') return null;
      const resetsAt = numberOr(info.resetsAt, null);
      const retryAfterMs = resetsAt === null ? null : Math.max(0, resetsAt * 1000 - now());
      return refusal('rate_limit', retryAfterMs, `the agent's ${textOr(info.rateLimitType, 'usage')} limit was reached`);
    },
    assistant(line) {
      const message = isObject(line.message) ? line.message : {};
      const content = Array.isArray(message.content) ? message.content : [];
      for (const block of content)
        if (isObject(block) && block.type === 'text' && typeof block.text === 'string') assistantText.push(block.text);
      // A message the CLI made up to show an API error was never a model call.
      if (line.is_api_error_message === true || message.model === '<synthetic>') return null;
      if (typeof message.model === 'string') model = message.model;
      const usage = isObject(message.usage) ? message.usage : {};
      const id = textOr(message.id, `message-${messages.size}`);
      const inputTokens =
        numberOr(usage.input_tokens, 0) + numberOr(usage.cache_creation_input_tokens, 0) + numberOr(usage.cache_read_input_tokens, 0);
      const outputTokens = numberOr(usage.output_tokens, 0);
      const before = messages.get(id);
      const counted = {
        inputTokens: Math.max(inputTokens, before?.inputTokens ?? 0),
        outputTokens: Math.max(outputTokens, before?.outputTokens ?? 0),
      };
      messages.set(id, { ...counted, costUsd: estimateCostUsd(model ?? '', counted.inputTokens, counted.outputTokens) });
      const all = [...messages.values()];
      raise({
        inputTokens: sum(all.map((each) => each.inputTokens)),
        outputTokens: sum(all.map((each) => each.outputTokens)),
        costUsd: sum(all.map((each) => each.costUsd)),
        turns: messages.size,
      });
      return null;
    },
    user: () => null,
    stream_event: () => null,
    result(line) {
      result = line;
      if (typeof line.result === 'string') resultText = line.result;
      const usage = isObject(line.usage) ? line.usage : {};
      raise({
        inputTokens: numberOr(usage.input_tokens, undefined),
        outputTokens: numberOr(usage.output_tokens, undefined),
        costUsd: numberOr(line.total_cost_usd, undefined),
        turns: numberOr(line.num_turns, undefined),
      });
      if (line.is_error !== true) return null;
      const status = numberOr(line.api_error_status, null);
      const said = textOr(line.result, `the agent's API call failed with HTTP ${status}`);
      if (isSpendLimitRefusal({ status: status ?? undefined, type: null, errorCode: null, message: said })) {
        return refusal('spend_limit', null, said);
      }
      if (status === 429) return refusal('rate_limit', null, said);
      if (status !== null && status >= 500) return refusal('overloaded', null, said);
      return null;
    },
  };

  return {
    line(text) {
      const parsed = parseLine(text);
      const read = parsed && typeof parsed.type === 'string' ? readers[parsed.type] : undefined;
      if (!parsed || !read) {
        plainLines.push(text);
        return null;
      }
      spoke = true;
      return read(parsed);
    },
    get lastLimit() {
      return lastLimit;
    },
    get spoke() {
      return spoke;
    },
    get result() {
      return result;
    },
    answer: () => resultText ?? (assistantText.length > 0 ? assistantText.join('\n\n') : plainLines.join('\n')),
    usage: () => ({ ...sent }),
  };
}

function parseLine(text: string): JsonObject | null {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{')) return null;
  try {
    const value = JSON.parse(trimmed) as JsonValue;
    return isObject(value) ? value : null;
  } catch {
    return null;
  }
}

const isObject = (value: JsonValue | undefined): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function numberOr<T>(value: JsonValue | undefined, fallback: T): number | T {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : fallback;
}

const textOr = (value: JsonValue | undefined, fallback: string): string => (typeof value === 'string' && value ? value : fallback);

const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
