/**
 * The verify gate's check: one command line, run with `/bin/sh -c` in the workspace.
 */

export interface CheckOutcome {
  command: string;
  /** Exit code 0 within the time limit. */
  passed: boolean;
  /** Null when the shell was killed by a signal or could not be started. */
  exit_code: number | null;
  timed_out: boolean;
  /** The last 4000 characters of stdout and stderr, merged in the order they arrived. */
  output_tail: string;
}

export interface RunCheckOptions {
  command: string;
  cwd: string;
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

export async function runCheck(_options: RunCheckOptions): Promise<CheckOutcome> {
  throw new Error('runCheck: not implemented yet');
}
