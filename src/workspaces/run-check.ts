/**
 * The verify gate's check: one command line, run with `/bin/sh -c` in the workspace, in a
 * process group of its own so that a timeout or an abort stops everything it started (a test
 * runner's workers, a dev server it forgot), and so that nothing of it outlives the outcome.
 */
import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { KILL_GRACE_MS, KILL_WAIT_MS, terminateGroup } from '../util/process-group.js';
import { abortReason } from './workspace-error.js';

export interface CheckOutcome {
  command: string;
  /** Exit code 0 within the time limit. */
  passed: boolean;
  /** Null when the shell was killed by a signal (a timeout) or could not be started. */
  exit_code: number | null;
  timed_out: boolean;
  /** The last 4000 characters of stdout and stderr, merged in the order they arrived. */
  output_tail: string;
}

export interface RunCheckOptions {
  command: string;
  cwd: string;
  /** A check still running after this is killed (its whole group) and counts as failed. */
  timeoutMs: number;
  /** Receives every line of output, stdout and stderr alike. */
  log: (line: string) => void;
  /** Aborting stops the check (its whole process group) and rejects with CheckAbortedError. */
  signal?: AbortSignal;
  /** @defaultValue the worker's own environment */
  env?: NodeJS.ProcessEnv;
}

/** The check was stopped by the caller's signal, so it has no verdict. */
export class CheckAbortedError extends Error {
  override readonly name = 'CheckAbortedError';
}

const TAIL_CHARS = 4000;
/** A "line" longer than this (a progress bar without newlines) is logged in pieces. */
const MAX_LOG_LINE_CHARS = 4000;

export async function runCheck(options: RunCheckOptions): Promise<CheckOutcome> {
  const { command, signal } = options;
  if (signal?.aborted) throw new CheckAbortedError(`the check \`${command}\` was not started: ${abortReason(signal)}`);
  const child = spawn('/bin/sh', ['-c', command], {
    cwd: options.cwd,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.env && { env: options.env }),
  });
  const output = outputCollector(options.log);
  const stdout = new StringDecoder('utf8');
  const stderr = new StringDecoder('utf8');
  child.stdout.on('data', (chunk: Buffer) => output.take('out', stdout.write(chunk)));
  child.stderr.on('data', (chunk: Buffer) => output.take('err', stderr.write(chunk)));

  let stoppedBy: 'timeout' | 'abort' | undefined;
  let termination: Promise<void> | undefined;
  const terminate = () => {
    if (child.pid !== undefined) termination ??= terminateGroup(child.pid);
  };
  const stop = (why: 'timeout' | 'abort') => {
    stoppedBy ??= why;
    terminate();
  };
  const timer = setTimeout(() => stop('timeout'), options.timeoutMs);
  const onAbort = () => stop('abort');
  signal?.addEventListener('abort', onAbort, { once: true });

  const end = await new Promise<{ code: number | null } | { spawnError: Error }>((resolve) => {
    let pipesTimer: NodeJS.Timeout | undefined;
    child.once('error', (spawnError) => resolve({ spawnError }));
    child.once('exit', () => {
      // The shell is done; what it left running in the background goes with its group.
      terminate();
      // A process that left the group (setsid) could hold the pipes open forever.
      pipesTimer = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
      }, KILL_GRACE_MS + KILL_WAIT_MS);
    });
    child.once('close', (code) => {
      clearTimeout(pipesTimer);
      resolve({ code });
    });
  });
  clearTimeout(timer);
  signal?.removeEventListener('abort', onAbort);
  terminate();
  await termination;
  output.take('out', stdout.end());
  output.take('err', stderr.end());
  output.end();

  if (stoppedBy === 'abort') throw new CheckAbortedError(`the check \`${command}\` was stopped: ${abortReason(signal)}`);
  if ('spawnError' in end) {
    const line = `could not start /bin/sh to run the check: ${end.spawnError.message}`;
    options.log(line);
    return { command, passed: false, exit_code: null, timed_out: false, output_tail: line };
  }
  const timedOut = stoppedBy === 'timeout';
  if (timedOut) options.log(`the check ran longer than ${options.timeoutMs} ms and was stopped`);
  return {
    command,
    passed: !timedOut && end.code === 0,
    exit_code: timedOut ? null : end.code,
    timed_out: timedOut,
    output_tail: output.tail(),
  };
}

/**
 * Lines of each stream go to the log as they complete; the tail keeps both streams' text in
 * the order it arrived, which is as merged as two pipes can be.
 */
function outputCollector(log: (line: string) => void) {
  const pending = { out: '', err: '' };
  let tail = '';
  const emit = (line: string) => log(line.endsWith('\r') ? line.slice(0, -1) : line);
  return {
    take(stream: 'out' | 'err', text: string) {
      if (!text) return;
      tail = (tail + text).slice(-TAIL_CHARS);
      let rest = pending[stream] + text;
      let newline: number;
      while ((newline = rest.indexOf('\n')) !== -1) {
        emit(rest.slice(0, newline));
        rest = rest.slice(newline + 1);
      }
      while (rest.length > MAX_LOG_LINE_CHARS) {
        emit(rest.slice(0, MAX_LOG_LINE_CHARS));
        rest = rest.slice(MAX_LOG_LINE_CHARS);
      }
      pending[stream] = rest;
    },
    end() {
      for (const stream of ['out', 'err'] as const) if (pending[stream]) emit(pending[stream]);
      pending.out = pending.err = '';
    },
    tail: () => tail,
  };
}
