/**
 * Every git command jobfleet runs goes through here.
 *
 * Git through its CLI, not a library: the CLI is what users have and configure, it speaks every
 * transport (local paths, ssh, https, git://) with the user's credential helpers and ssh keys,
 * and its error messages are exactly what a failed job should quote to the user.
 *
 * Each command runs in a process group of its own, so that a command past its time limit can be
 * killed together with what it started (ssh, a remote helper), and it never asks a question: no
 * terminal prompt, ssh in batch mode. Hooks and the fsmonitor are off for every command:
 * jobfleet's own commits, checkouts, diffs and pushes must not run code from the repository or
 * the agent (who can set core.fsmonitor in the config its worktree shares with the mirror).
 */
import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { terminateGroup } from '../util/process-group.js';

export interface GitOptions {
  cwd: string;
  timeoutMs: number;
  /** Added to the environment (e.g. the author of a commit). */
  env?: Record<string, string>;
  /** Exit codes that are answers, not failures (`diff --quiet` answers 1 for "differs"). */
  okExitCodes?: readonly number[];
}

export interface GitOutput {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** A git command failed: its arguments, its exit code and what it said on stderr. */
export class GitError extends Error {
  override readonly name = 'GitError';

  constructor(
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly timedOut: boolean,
    timeoutMs?: number,
  ) {
    const command = `git ${args[0] ?? ''}`;
    super(
      timedOut
        ? `${command} ran longer than GIT_TIMEOUT_MS (${timeoutMs} ms) and was killed${stderr.trim() ? `: ${gitWords(stderr)}` : ''}`
        : gitWords(stderr) || `${command} exited with code ${exitCode}`,
    );
  }
}

/** The message of a failed job: git's stderr, trimmed, its last lines up to 2000 characters. */
export function gitWords(stderr: string, limit = 2000): string {
  // Lines from the remote come padded with spaces (to overwrite progress output).
  const text = stderr.replace(/[ \t]+$/gm, '').trim();
  if (text.length <= limit) return text;
  const tail = text.slice(-limit);
  const lineStart = tail.indexOf('\n');
  return lineStart === -1 ? tail : tail.slice(lineStart + 1);
}

/**
 * Variables that would point git at another repository than the one in `cwd` (set, for example,
 * when a worker is started from a git hook); none of jobfleet's commands wants them.
 */
const REPOSITORY_LOCATORS = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_INDEX_FILE',
  'GIT_OBJECT_DIRECTORY',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_COMMON_DIR',
  'GIT_NAMESPACE',
  'GIT_PREFIX',
];

/** The worker's environment (its credentials, proxy, ssh agent) made non-interactive. */
export function gitEnvironment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of REPOSITORY_LOCATORS) delete env[name];
  return {
    ...env,
    GIT_TERMINAL_PROMPT: '0',
    LC_ALL: 'C',
    GIT_SSH_COMMAND: env.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes',
    ...extra,
  };
}

/** Runs `git <args>` in `cwd`; rejects with GitError on a failure, a timeout or a spawn error. */
export function git(args: readonly string[], options: GitOptions): Promise<GitOutput> {
  const fullArgs = ['-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn('git', fullArgs, {
      cwd: options.cwd,
      env: gitEnvironment(options.env),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stdout = collect();
    const stderr = collect();
    child.stdout.on('data', stdout.write);
    child.stderr.on('data', stderr.write);
    let timedOut = false;
    let killed: Promise<void> | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) killed = terminateGroup(child.pid);
    }, options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new GitError(args, null, `could not run git in ${options.cwd}: ${error.message}`, false));
    });
    child.once('close', async (code) => {
      clearTimeout(timer);
      await killed;
      const output = { exitCode: code ?? -1, stdout: stdout.text(), stderr: stderr.text() };
      if (!timedOut && code !== null && (code === 0 || options.okExitCodes?.includes(code))) resolve(output);
      else reject(new GitError(args, code, output.stderr, timedOut, options.timeoutMs));
    });
  });
}

function collect() {
  const decoder = new StringDecoder('utf8');
  let text = '';
  return {
    write: (chunk: Buffer) => void (text += decoder.write(chunk)),
    text: () => text + decoder.end(),
  };
}
