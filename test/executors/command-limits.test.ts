/**
 * The command agent protocol (SPEC "Provider limits and budgets"), against the fixture agent
 * test/fixtures/agents/limited-agent.mjs: provider_limit lines, exit code 75, usage lines, and the
 * Claude Code stream-json lines, metered as they stream.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type BudgetLimits, createUsageMeter, NO_LIMITS } from '../../src/executors/usage-meter.js';
import { createCommandExecutor } from '../../src/executors/command.executor.js';
import { AgentAbortedError, type AgentRequest } from '../../src/executors/executor.js';
import { estimateCostUsd } from '../../src/executors/list-prices.js';
import { ProviderLimitError } from '../../src/errors/provider-limit.js';
import { waitFor } from '../helpers/wait-for.js';

const AGENT = path.join(import.meta.dirname, '../fixtures/agents/limited-agent.mjs');
const PROVIDER = 'fixture-llm';

/** The fixture in one of its modes; its environment variables say which. */
function executor(mode: string, env: Record<string, string> = {}) {
  const command = [process.execPath, AGENT].map((part) => JSON.stringify(part)).join(' ');
  return createCommandExecutor({
    command,
    // Long enough that a mode which keeps running is stopped by the protocol, never by this.
    timeoutMs: 30_000,
    provider: PROVIDER,
    env: { PATH: process.env.PATH, LIMITED_AGENT_MODE: mode, ...env },
  });
}

function request(overrides: Partial<AgentRequest> = {}): AgentRequest & { lines: string[] } {
  const lines: string[] = [];
  return {
    jobId: 'job-7',
    kind: 'IDEA_GRILL',
    prompt: { system: 'You grill ideas.', user: 'Grill this.' },
    signal: new AbortController().signal,
    log: (line) => lines.push(line),
    lines,
    ...overrides,
  };
}

/** A meter with these ceilings that aborts the request's signal as the worker does. */
function metered(limits: Partial<BudgetLimits>) {
  const controller = new AbortController();
  const meter = createUsageMeter({ limits: { ...NO_LIMITS, ...limits }, stop: () => controller.abort('budget_exceeded') });
  return { signal: controller.signal, meter };
}

async function thrownBy(run: Promise<unknown>): Promise<unknown> {
  return run.then(
    () => {
      throw new Error('the run succeeded');
    },
    (error: unknown) => error,
  );
}

/** Each mode that keeps running after its line sleeps a minute: settling in under 10 s means it was stopped. */
const STOPPED_WITHIN_MS = 10_000;

describe('command agent: provider limits', () => {
  it('a rate_limit line stops the command at once and is a rate limit for its retry_after_seconds', async () => {
    const started = Date.now();

    const failure = await thrownBy(executor('rate_limit', { LIMITED_AGENT_RETRY_AFTER_SECONDS: '12' }).run(request()));

    expect(failure).toBeInstanceOf(ProviderLimitError);
    expect(failure).toMatchObject({ provider: PROVIDER, limit: 'rate_limit', retryAfterMs: 12_000 });
    expect(Date.now() - started).toBeLessThan(STOPPED_WITHIN_MS);
  });

  it('a rate_limit line with until waits until that time', async () => {
    const until = new Date(Date.now() + 120_000).toISOString();

    const failure = (await thrownBy(executor('rate_limit', { LIMITED_AGENT_UNTIL: until }).run(request()))) as ProviderLimitError;

    expect(failure.limit).toBe('rate_limit');
    expect(failure.retryAfterMs).toBeGreaterThan(100_000);
    expect(failure.retryAfterMs).toBeLessThanOrEqual(120_000);
  });

  it('an overloaded line is an overload, with no time unless it gave one', async () => {
    const failure = await thrownBy(executor('overloaded').run(request()));

    expect(failure).toMatchObject({ provider: PROVIDER, limit: 'overloaded', retryAfterMs: null });
  });

  it('a spend_limit line is the spend limit, never with a time', async () => {
    const failure = await thrownBy(executor('spend_limit', { LIMITED_AGENT_RETRY_AFTER_SECONDS: '5' }).run(request()));

    expect(failure).toMatchObject({ provider: PROVIDER, limit: 'spend_limit', retryAfterMs: null });
  });

  it('exit code 75 alone is a rate limit with no time (the fleet waits its default)', async () => {
    const failure = await thrownBy(executor('exit_75').run(request()));

    expect(failure).toBeInstanceOf(ProviderLimitError);
    expect(failure).toMatchObject({ provider: PROVIDER, limit: 'rate_limit', retryAfterMs: null });
  });

  it('exit code 75 after a provider_limit line is what the line said', async () => {
    const failure = await thrownBy(executor('limit_then_exit_75', { LIMITED_AGENT_RETRY_AFTER_SECONDS: '3' }).run(request()));

    expect(failure).toMatchObject({ provider: PROVIDER, limit: 'rate_limit', retryAfterMs: 3_000 });
  });

  it('a Claude CLI api_retry after a 429 stops the CLI: a rate limit, rather than minutes of silent retries', async () => {
    const failure = await thrownBy(executor('cli_retry_429').run(request()));

    expect(failure).toMatchObject({ provider: PROVIDER, limit: 'rate_limit', retryAfterMs: 30_000 });
  });

  it('a rejected rate_limit_event is a rate limit until its resetsAt', async () => {
    const failure = (await thrownBy(executor('cli_rate_limit_event').run(request()))) as ProviderLimitError;

    expect(failure.limit).toBe('rate_limit');
    expect(failure.retryAfterMs).toBeGreaterThan(80_000);
    expect(failure.retryAfterMs).toBeLessThanOrEqual(90_000);
  });

  it('an error result with a 529 status is an overload, not the job failing', async () => {
    const failure = await thrownBy(executor('cli_result_529').run(request()));

    expect(failure).toMatchObject({ provider: PROVIDER, limit: 'overloaded' });
  });
});

describe('command agent: usage as it streams', () => {
  it('takes the result line as the answer, with its usage and cost, from a stream-json run', async () => {
    const { signal, meter } = metered({});

    const output = await executor('success').run(request({ signal, meter }));

    expect(output.text).toBe('# Answer\n\nAnswered: You grill ideas.');
    expect(output.usage).toEqual({ inputTokens: 2_200, outputTokens: 130, costUsd: 0.0123 });
    expect(output.data).toMatchObject({ type: 'result', num_turns: 2 });
    expect(meter.totals).toEqual({ inputTokens: 2_200, outputTokens: 130, costUsd: 0.0123, turns: 2 });
  });

  it.each([
    [{ maxCostUsd: 0.05 }, 'max_cost_usd'],
    [{ maxOutputTokens: 500 }, 'max_output_tokens'],
    [{ maxTurns: 2 }, 'max_turns'],
  ] as const)('meters stream-json turns as they come and stops the run at %o, keeping the text so far', async (limits, ceiling) => {
    const { signal, meter } = metered(limits);

    const failure = await thrownBy(executor('stream_over_budget').run(request({ signal, meter })));

    expect(failure).toBeInstanceOf(AgentAbortedError);
    expect((failure as AgentAbortedError).reason).toBe('budget_exceeded');
    expect(meter.exceeded?.ceiling).toBe(ceiling);
    // One assistant turn is 1000 tokens in and 200 out, priced at the model's list price.
    const turns = meter.totals.turns;
    expect(meter.totals).toMatchObject({ inputTokens: 1_000 * turns, outputTokens: 200 * turns });
    expect(meter.totals.costUsd).toBeCloseTo(turns * estimateCostUsd('claude-sonnet-4-6', 1_000, 200), 10);
    const partial = (failure as AgentAbortedError).details.partial_output as string;
    expect(partial.split('\n\n')).toEqual(Array.from({ length: turns }, (_, i) => `Step ${i + 1} done.`));
  });

  it('meters usage lines and stops at the ceiling; the plain text between them is the partial output', async () => {
    const { signal, meter } = metered({ maxCostUsd: 0.02 });

    const failure = (await thrownBy(executor('usage_over_budget').run(request({ signal, meter })))) as AgentAbortedError;

    expect(failure.reason).toBe('budget_exceeded');
    expect(meter.totals.turns).toBe(4);
    expect(meter.totals.costUsd).toBeCloseTo(0.024, 10);
    expect(failure.details.partial_output).toBe(
      'Part 1 of the answer.\nPart 2 of the answer.\nPart 3 of the answer.\nPart 4 of the answer.',
    );
  });

  it('still takes a pretty-printed result document whole, as before the protocol', async () => {
    const json = JSON.stringify(
      { type: 'result', result: 'pretty', total_cost_usd: 0.5, usage: { input_tokens: 3, output_tokens: 4 } },
      null,
      2,
    );
    const command = `cat > /dev/null; printf '%s\\n' '${json}'`;

    const output = await createCommandExecutor({ command, timeoutMs: 30_000, provider: PROVIDER }).run(request());

    expect(output.text).toBe('pretty');
    expect(output.usage).toEqual({ inputTokens: 3, outputTokens: 4, costUsd: 0.5 });
  });

  it('keeps the answer so far when the job is cancelled', async () => {
    const controller = new AbortController();
    const meter = createUsageMeter({ limits: NO_LIMITS, stop: () => {} });
    const running = thrownBy(executor('stream_over_budget').run(request({ signal: controller.signal, meter })));
    await waitFor('two turns to stream', () => meter.totals.turns >= 2, { timeoutMs: 5_000 });
    controller.abort('cancelled');

    const failure = (await running) as AgentAbortedError;

    expect(failure.reason).toBe('cancelled');
    expect((failure.details.partial_output as string).startsWith('Step 1 done.\n\nStep 2 done.')).toBe(true);
  });
});

describe('a long stream-json session', () => {
  it('is read past the 10 MB a plain answer may have, and answers with its result line', async () => {
    // 12 MB of tool results echoed by a verbose session, then the result: only the answer is kept.
    const script = [
      "const block = 'x'.repeat(64 * 1024);",
      "const line = JSON.stringify({ type: 'user', message: { content: [{ type: 'tool_result', content: block }] } }) + '\\n';",
      'for (let i = 0; i < 192; i += 1) process.stdout.write(line);',
      "process.stdout.write(JSON.stringify({ type: 'result', subtype: 'success', is_error: false, result: 'the answer', total_cost_usd: 0.01, num_turns: 1 }) + '\\n');",
    ].join(' ');
    const long = createCommandExecutor({
      command: `${JSON.stringify(process.execPath)} -e ${JSON.stringify(script)}`,
      timeoutMs: 30_000,
      provider: PROVIDER,
      env: { PATH: process.env.PATH },
    });
    const output = await long.run(request());
    expect(output.text).toBe('the answer');
    expect(output.usage.costUsd).toBeCloseTo(0.01);
  });
});
