/**
 * Runs a prompt through an external command line, e.g. `claude -p --output-format stream-json
 * --verbose`: the prompt goes to stdin, the answer comes from stdout, and stderr lines go to the
 * job's log. Stdout is read line by line as it arrives (src/executors/stream-json.ts): usage is
 * metered as it streams, and a provider's refusal (a `provider_limit` line, a Claude CLI 429, or
 * exit code 75) stops the command at once and is thrown as a ProviderLimitError.
 *
 * The command runs in its own process group (`detached`), so that on abort, timeout or an
 * oversized answer the whole tree it started (an agent CLI and its tool subprocesses) can be
 * signalled at once, and so that nothing of it is left running when `run()` settles.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { basename } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { JsonValue } from '../db/column-types.js';
import { ProviderLimitError } from '../errors/provider-limit.js';
import { KILL_GRACE_MS, KILL_WAIT_MS, terminateGroup } from '../util/process-group.js';
import {
  AgentAbortedError,
  AgentFailedError,
  abortReason,
  parseJsonOutput,
  type AgentOutput,
  type AgentRequest,
  type AgentUsage,
  type Executor,
} from './executor.js';
import { type McpConfigFile, writeMcpConfig } from './mcp-config.js';
import { createStreamReader, type StreamReader } from './stream-json.js';

export interface CommandExecutorOptions {
  /** A shell command line, run with `/bin/sh -c`. */
  command: string;
  /** Wall-clock limit for one run, on top of the request's own signal. */
  timeoutMs: number;
  /**
   * The provider whose limits the command reports (AGENT_PROVIDER).
   * @defaultValue 'anthropic'
   */
  provider?: string;
  /**
   * The child's environment; JOBFLEET_JOB_ID and JOBFLEET_JOB_KIND are added to it, and in a
   * workspace JOBFLEET_WORKSPACE, JOBFLEET_BRANCH and JOBFLEET_BASE_SHA, and with a channel back to the
   * fleet JOBFLEET_MCP_URL, JOBFLEET_AGENT_TOKEN and JOBFLEET_MCP_CONFIG (src/executors/mcp-config.ts).
   * @defaultValue the worker's own environment
   */
  env?: NodeJS.ProcessEnv;
}

/** EX_TEMPFAIL (sysexits.h): the command agent's way of saying "provider limit". */
export const PROVIDER_LIMIT_EXIT_CODE = 75;

/** Beyond this, stdout is not an answer anyone will store: stop the command and fail. */
export const MAX_OUTPUT_BYTES = 10 * 1024 * 1024;
/**
 * A run that speaks stream-json prints every tool result it sees, so its stdout grows with a long
 * session while its answer does not: only the answer is kept, and only a runaway stream is stopped.
 */
export const MAX_STREAM_BYTES = 256 * 1024 * 1024;
const STDERR_TAIL_CHARS = 2000;
/** A stderr "line" longer than this (a progress bar without newlines) is logged in pieces. */
const MAX_LOG_LINE_CHARS = 4000;

export function createCommandExecutor(options: CommandExecutorOptions): Executor {
  return { name: 'command', provider: options.provider ?? 'anthropic', run: (request) => runCommand(options, request) };
}

/** Why the command was stopped by us rather than by itself. */
type StopCause = { kind: 'aborted'; reason: string } | { kind: 'output-too-large' } | { kind: 'provider-limit'; error: ProviderLimitError };

async function runCommand(options: CommandExecutorOptions, request: AgentRequest): Promise<AgentOutput> {
  const { signal } = request;
  if (signal.aborted) throw new AgentAbortedError(abortReason(signal), { partial_output: '' });
  const mcp = request.channel ? await writeMcpConfig(request.channel) : null;
  try {
    return await runChild(options, request, mcp);
  } finally {
    await mcp?.remove();
  }
}

async function runChild(options: CommandExecutorOptions, request: AgentRequest, mcp: McpConfigFile | null): Promise<AgentOutput> {
  const { signal, log, workspace } = request;
  const child = spawn('/bin/sh', ['-c', options.command], {
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    // An implementation agent works in its job's workspace; any other runs where the worker does.
    cwd: workspace?.dir,
    env: {
      // The worker's environment is the child's by default, as it would be for any spawn.
      ...(options.env ?? process.env),
      JOBFLEET_JOB_ID: request.jobId,
      JOBFLEET_JOB_KIND: request.kind,
      ...(workspace && {
        JOBFLEET_WORKSPACE: workspace.dir,
        JOBFLEET_BRANCH: workspace.branch,
        JOBFLEET_BASE_SHA: workspace.baseSha,
      }),
      ...(request.channel &&
        mcp && {
          JOBFLEET_MCP_URL: request.channel.url,
          JOBFLEET_AGENT_TOKEN: request.channel.token,
          JOBFLEET_MCP_CONFIG: mcp.path,
        }),
    },
  });

  let stopCause: StopCause | undefined;
  let termination: Promise<void> | undefined;
  const terminate = () => {
    if (child.pid !== undefined) termination ??= terminateGroup(child.pid);
  };
  const stop = (cause: StopCause) => {
    stopCause ??= cause;
    terminate();
  };

  const provider = options.provider ?? 'anthropic';
  const reader = createStreamReader({ provider, meter: request.meter, log });
  const lines = lineSplitter((line) => {
    if (stopCause) return;
    const refused = reader.line(line);
    if (refused) stop({ kind: 'provider-limit', error: refused });
  });
  const stdout: Buffer[] = [];
  let stdoutBytes = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    if (stopCause) return;
    stdoutBytes += chunk.length;
    if (stdoutBytes > (reader.spoke ? MAX_STREAM_BYTES : MAX_OUTPUT_BYTES)) return stop({ kind: 'output-too-large' });
    // The raw bytes are the answer only of a run that never speaks the protocol.
    if (reader.spoke) stdout.length = 0;
    else stdout.push(chunk);
    lines.write(chunk);
  });
  const stderr = stderrCollector(log);
  child.stderr.on('data', (chunk: Buffer) => stderr.write(chunk));
  // A command that exits without reading its stdin makes our write fail with EPIPE; its exit
  // code says what went wrong, so the write error itself is not worth reporting.
  child.stdin.on('error', () => {});
  child.stdin.end(`${request.prompt.system}\n\n${request.prompt.user}`);

  const onAbort = () => stop({ kind: 'aborted', reason: abortReason(signal) });
  signal.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => stop({ kind: 'aborted', reason: `timeout after ${options.timeoutMs} ms` }), options.timeoutMs);

  const exit = await childEnd(child, terminate);
  clearTimeout(timer);
  signal.removeEventListener('abort', onAbort);
  // Started on exit or stop already; settling only once the group is dead is the promise
  // that no process of this run outlives it.
  terminate();
  await termination;
  stderr.end();
  if (!stopCause) lines.end();

  if (stopCause?.kind === 'aborted') throw new AgentAbortedError(stopCause.reason, { partial_output: reader.answer() });
  if (stopCause?.kind === 'provider-limit') throw stopCause.error;
  if (stopCause?.kind === 'output-too-large') {
    const limitBytes = reader.spoke ? MAX_STREAM_BYTES : MAX_OUTPUT_BYTES;
    throw new AgentFailedError(`command output exceeded ${limitBytes / (1024 * 1024)} MB; the command was stopped`, {
      limitBytes,
      stderrTail: stderr.tail(),
    });
  }
  if ('spawnError' in exit) {
    throw new AgentFailedError(`could not start /bin/sh to run \`${options.command}\`: ${exit.spawnError.message}`);
  }
  if (exit.code === PROVIDER_LIMIT_EXIT_CODE) {
    // Without a line saying which limit, it is a rate limit for the fleet's default time.
    throw (
      reader.lastLimit ??
      new ProviderLimitError(provider, 'rate_limit', null, `the command exited with code ${PROVIDER_LIMIT_EXIT_CODE} (provider limit)`)
    );
  }
  if (exit.code !== 0) throw exitFailure(options.command, exit.code, exit.signal, stderr.tail());

  const agent = agentName(options.command);
  // Plain text or one JSON document (pretty-printed, perhaps): the whole of stdout, as ever.
  if (!reader.spoke) return toOutput(Buffer.concat(stdout).toString('utf8'), agent);
  return streamedOutput(reader, agent);
}

type ChildEnd = { code: number | null; signal: NodeJS.Signals | null } | { spawnError: Error };

/** Resolves when the shell has exited and its pipes are closed, or it could not be started. */
function childEnd(child: ChildProcessWithoutNullStreams, terminateGroup: () => void): Promise<ChildEnd> {
  return new Promise((resolve) => {
    let pipesTimer: NodeJS.Timeout | undefined;
    child.once('error', (spawnError) => resolve({ spawnError }));
    child.once('exit', () => {
      // The shell is gone, but what it started may live on and keep stdout open: the group
      // goes too, which also lets 'close' arrive.
      terminateGroup();
      // A process that left the group (setsid) could hold the pipes forever; stop waiting.
      pipesTimer = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
      }, KILL_GRACE_MS + KILL_WAIT_MS);
    });
    child.once('close', (code, signal) => {
      clearTimeout(pipesTimer);
      resolve({ code, signal });
    });
  });
}

function exitFailure(command: string, code: number | null, exitSignal: NodeJS.Signals | null, stderrTail: string) {
  if (code === null) {
    return new AgentFailedError(`command was killed by ${exitSignal ?? 'a signal'}`, {
      exitCode: null,
      signal: exitSignal,
      stderrTail,
    });
  }
  // The shell's own codes for "not found" and "not executable": name the command line, since
  // the stderr tail alone ("sh: 1: claude: not found") is easy to misread as the agent's error.
  const hint = code === 127 ? ` (command not found: \`${command}\`)` : code === 126 ? ` (command not executable: \`${command}\`)` : '';
  return new AgentFailedError(`command exited with code ${code}${hint}`, { exitCode: code, stderrTail });
}

/**
 * Plain text, or one JSON document that is not on a single line. A pretty-printed Claude CLI
 * result still counts as one: its `result` is the answer, its `usage` and `total_cost_usd` the cost.
 */
function toOutput(stdout: string, agent: string): AgentOutput {
  const data = parseJsonOutput(stdout);
  const usage: AgentUsage = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
  let text = stdout;
  if (isObject(data) && typeof data.result === 'string') {
    text = data.result;
    const reported = isObject(data.usage) ? data.usage : {};
    usage.inputTokens = numberOr0(reported.input_tokens);
    usage.outputTokens = numberOr0(reported.output_tokens);
    usage.costUsd = numberOr0(data.total_cost_usd);
  }
  return { text, data, usage, agent };
}

const isObject = (value: JsonValue | undefined): value is { [key: string]: JsonValue } =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const numberOr0 = (value: JsonValue | undefined): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0);

/**
 * A run that spoke the protocol or stream-json (the Claude CLI's `--output-format json` prints one
 * `result` line, which counts): the result line's text is the answer and the line itself the
 * data; without one, the text written besides the protocol's lines.
 */
function streamedOutput(reader: StreamReader, agent: string): AgentOutput {
  const text = reader.answer();
  const { inputTokens, outputTokens, costUsd } = reader.usage();
  const data: JsonValue = reader.result ?? parseJsonOutput(text);
  return { text, data, usage: { inputTokens, outputTokens, costUsd }, agent };
}

/** `command:claude` for `claude -p --output-format json`: which program, not its arguments. */
function agentName(command: string): string {
  const program = (command.trim().split(/\s+/)[0] ?? '').replace(/^["']|["']$/g, '');
  return program ? `command:${basename(program)}` : 'command';
}

/** Calls `onLine` with each complete stdout line as it arrives, and the unterminated rest at the end. */
function lineSplitter(onLine: (line: string) => void) {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  const take = (text: string) => {
    pending += text;
    let newline: number;
    while ((newline = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
    }
  };
  return {
    write: (chunk: Buffer) => take(decoder.write(chunk)),
    end: () => {
      take(decoder.end());
      if (pending) onLine(pending);
      pending = '';
    },
  };
}

/** Splits stderr into log lines and keeps its tail for the failure details. */
function stderrCollector(log: (line: string) => void) {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let tail = '';
  const emit = (line: string) => log(line.endsWith('\r') ? line.slice(0, -1) : line);
  const take = (text: string) => {
    tail = (tail + text).slice(-STDERR_TAIL_CHARS);
    pending += text;
    let newline: number;
    while ((newline = pending.indexOf('\n')) !== -1) {
      emit(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
    }
    while (pending.length > MAX_LOG_LINE_CHARS) {
      emit(pending.slice(0, MAX_LOG_LINE_CHARS));
      pending = pending.slice(MAX_LOG_LINE_CHARS);
    }
  };
  return {
    write: (chunk: Buffer) => take(decoder.write(chunk)),
    end: () => {
      take(decoder.end());
      if (pending) emit(pending);
      pending = '';
    },
    tail: () => tail,
  };
}
