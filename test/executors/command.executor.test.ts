import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createCommandExecutor, type CommandExecutorOptions } from '../../src/executors/command.executor.js';
import { AgentAbortedError, AgentFailedError, type AgentRequest } from '../../src/executors/executor.js';
import { isAlive } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

const FIXTURES = path.join(import.meta.dirname, '../fixtures/agents');

/** `node <fixture>` as a shell command line, with both paths quoted. */
function nodeCommand(fixture: string, ...args: string[]): string {
  return [process.execPath, path.join(FIXTURES, fixture), ...args].map((part) => JSON.stringify(part)).join(' ');
}

function executor(command: string, overrides: Partial<CommandExecutorOptions> = {}) {
  return createCommandExecutor({ command, timeoutMs: 30_000, ...overrides });
}

function request(overrides: Partial<AgentRequest> = {}): AgentRequest & { lines: string[] } {
  const lines: string[] = [];
  return {
    jobId: 'job-42',
    kind: 'PLAN',
    prompt: { system: 'You plan work.', user: 'Plan the fleet.' },
    signal: new AbortController().signal,
    log: (line) => lines.push(line),
    lines,
    ...overrides,
  };
}

/** Every pid a fixture reported, so a failing test does not leave sleepers behind. */
const reportedSoFar = new Set<number>();

afterEach(() => {
  for (const pid of reportedSoFar) {
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  reportedSoFar.clear();
});

/** The pids the sleep-with-grandchild fixture reports on stderr, once it has. */
function reportedPids(lines: string[]): { child: number; grandchild: number } | undefined {
  const line = lines.find((candidate) => candidate.startsWith('pids '));
  if (!line) return undefined;
  const pids = JSON.parse(line.slice('pids '.length)) as { child: number; grandchild: number };
  reportedSoFar.add(pids.child).add(pids.grandchild);
  return pids;
}

describe('command executor', () => {
  it('writes the system and user prompt to stdin and returns stdout as text', async () => {
    const req = request();

    const output = await executor(nodeCommand('echo-stdin.mjs')).run(req);

    expect(output).toEqual({
      text: 'You plan work.\n\nPlan the fleet.',
      data: null,
      usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
      agent: 'command:node',
    });
  });

  it('passes the job id and kind in the environment and logs each stderr line', async () => {
    const req = request();

    await executor(nodeCommand('echo-stdin.mjs'), { env: { PATH: process.env.PATH } }).run(req);

    expect(req.lines).toEqual(['job job-42 kind PLAN', `read ${'You plan work.\n\nPlan the fleet.'.length} characters`]);
  });

  it('takes the text, usage and cost from Claude CLI style JSON output', async () => {
    const output = await executor(nodeCommand('claude-cli-json.mjs')).run(request());

    expect(output.text).toBe('Answered: You plan work.');
    expect(output.usage).toEqual({ inputTokens: 120, outputTokens: 45, costUsd: 0.01 });
    expect(output.data).toMatchObject({ type: 'result', result: 'Answered: You plan work.' });
  });

  it('fails with the exit code and the tail of stderr when the command exits non-zero', async () => {
    const req = request();

    const failure = await executor(nodeCommand('fail-with-stderr.mjs'))
      .run(req)
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(AgentFailedError);
    const { message, details } = failure as AgentFailedError;
    expect(message).toBe('command exited with code 3');
    expect(details.exitCode).toBe(3);
    const stderrTail = details.stderrTail as string;
    expect(stderrTail.length).toBeLessThanOrEqual(2000);
    expect(stderrTail.endsWith('fatal: out of credits\n')).toBe(true);
    expect(stderrTail).not.toContain('progress line 1 ');
    expect(req.lines).toHaveLength(101);
  });

  it('names the command when the shell cannot find it', async () => {
    const command = 'jobfleet-no-such-agent-cli -p --output-format json';

    const failure = await executor(command)
      .run(request())
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(AgentFailedError);
    expect((failure as AgentFailedError).message).toContain(command);
    expect((failure as AgentFailedError).details.exitCode).toBe(127);
  });

  it('stops the command and fails clearly when stdout exceeds 10 MB', async () => {
    const failure = await executor(nodeCommand('flood-stdout.mjs'))
      .run(request())
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(AgentFailedError);
    expect((failure as AgentFailedError).message).toBe('command output exceeded 10 MB; the command was stopped');
  });

  it('kills the command and the process it started when the signal aborts', async () => {
    const controller = new AbortController();
    const req = request({ signal: controller.signal });

    const running = executor(nodeCommand('sleep-with-grandchild.mjs'))
      .run(req)
      .catch((error: unknown) => error);
    const pids = await waitFor('the fixture to report its pids', () => reportedPids(req.lines), { timeoutMs: 10_000 });
    controller.abort('cancelled by user');
    const failure = await running;

    expect(failure).toBeInstanceOf(AgentAbortedError);
    expect((failure as AgentAbortedError).reason).toBe('cancelled by user');
    // The executor settles only once the whole process group is dead: no waiting here.
    expect(isAlive(pids.child)).toBe(false);
    expect(isAlive(pids.grandchild)).toBe(false);
  });

  it('kills the command and a grandchild that ignores SIGTERM when the timeout passes', async () => {
    const req = request();

    const failure = await executor(nodeCommand('sleep-with-grandchild.mjs', '--grandchild-ignores-sigterm'), {
      timeoutMs: 3_000,
    })
      .run(req)
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(AgentAbortedError);
    expect((failure as AgentAbortedError).reason).toBe('timeout after 3000 ms');
    const pids = reportedPids(req.lines);
    expect(pids).toBeDefined();
    expect(isAlive(pids!.child)).toBe(false);
    expect(isAlive(pids!.grandchild)).toBe(false);
  });

  it('kills what the command left running when it exits on its own', async () => {
    const req = request();

    const output = await executor(nodeCommand('sleep-with-grandchild.mjs', '--exit-once-reported')).run(req);

    expect(output.text).toBe('done');
    const pids = reportedPids(req.lines);
    expect(pids).toBeDefined();
    expect(isAlive(pids!.grandchild)).toBe(false);
  });

  it('does not start the command when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort('shutting down');
    const req = request({ signal: controller.signal });

    const failure = await executor(nodeCommand('echo-stdin.mjs'))
      .run(req)
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(AgentAbortedError);
    expect(req.lines).toEqual([]);
  });
});
