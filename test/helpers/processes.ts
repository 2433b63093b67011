/**
 * jobfleet processes for tests, spawned exactly as users run them (`node bin/jobfleet.js ...`),
 * so that death (SIGKILL), stalls (SIGSTOP) and shutdown (SIGTERM) are real. Every process a
 * test file spawns is killed when the file ends; `assertNoneRunning` fails a test that leaks one.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from './wait-for.js';

const ROOT = path.join(import.meta.dirname, '..', '..');
export const CLI = path.join(ROOT, 'bin', 'jobfleet.js');

export interface JobfleetProcess {
  child: ChildProcess;
  pid: number;
  /** Everything it wrote, stdout and stderr interleaved. */
  output(): string;
  /** Resolves with the first stdout line matching `pattern`. */
  line(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Writes a line to its stdin (fixtures only). */
  send(line: string): void;
  /** Resolves with the exit code (or the signal) once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

const spawned = new Set<JobfleetProcess>();

export function spawnJobfleet(args: string[], env: Record<string, string>): JobfleetProcess {
  return spawnNode([CLI, ...args], env);
}

/** The CLI of a compiled build (`npm run build` output): its entry's path, then the arguments. */
export function spawnBuilt(entry: string, args: string[], env: Record<string, string>): JobfleetProcess {
  return spawnNode([entry, ...args], env);
}

/** A TypeScript fixture of test/fixtures, run through the same loader as the CLI. */
export function spawnFixture(name: string, env: Record<string, string>): JobfleetProcess {
  return spawnNode(['--import', 'tsx', path.join(ROOT, 'test', 'fixtures', name)], env, 'pipe');
}

function spawnNode(args: string[], env: Record<string, string>, stdin: 'ignore' | 'pipe' = 'ignore'): JobfleetProcess {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: [stdin, 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const handle: JobfleetProcess = {
    child,
    pid: child.pid!,
    output: () => output,
    line: (pattern, timeoutMs = 30_000) =>
      waitFor(
        `a line matching ${pattern} from ${args.join(' ')}`,
        () => {
          if (child.exitCode !== null) throw new Error(`process exited (${child.exitCode}) before printing ${pattern}:\n${output}`);
          return output.match(pattern) ?? undefined;
        },
        { timeoutMs },
      ),
    exited,
    send: (line) => void child.stdin?.write(`${line}\n`),
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
  spawned.add(handle);
  void exited.then(() => spawned.delete(handle));
  return handle;
}

/** Kills whatever is still running (SIGCONT first, in case a test stopped it). */
export async function killAll(): Promise<void> {
  const running = [...spawned];
  for (const proc of running) {
    proc.kill('SIGCONT');
    proc.kill('SIGKILL');
  }
  await Promise.all(running.map((proc) => proc.exited));
}

export function running(): JobfleetProcess[] {
  return [...spawned];
}

/**
 * Whether a process is alive: it exists and is not a zombie (dead, and only waiting for its
 * parent to reap it, which a test cannot hurry when the parent was killed).
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false; // gone between the two looks
  }
}
