/** Child processes of the bench: started through the same loader as the CLI, read line by line. */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = path.join(import.meta.dirname, '..');

export interface Child {
  pid: number;
  line(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

export interface ChildOptions {
  /** A network namespace to run in (`ip netns exec`, which execs node itself: the pid is node's). */
  netns?: string;
}

export function spawnChild(script: string, env: Record<string, string>, args: string[] = [], options: ChildOptions = {}): Child {
  const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  // For profiling a run: BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=prof' npm run bench.
  const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const command = [process.execPath, ...nodeArgs, ...loader, path.resolve(ROOT, script), ...args];
  const [file, ...argv] = options.netns === undefined ? command : ['ip', 'netns', 'exec', options.netns, ...command];
  const child: ChildProcess = spawn(file!, argv, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid!,
    async line(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = output.match(pattern);
        if (match) return match;
        if (child.exitCode !== null) throw new Error(`${script} exited before printing ${pattern}:\n${output}`);
        if (Date.now() > deadline) throw new Error(`${script} did not print ${pattern} within ${timeoutMs} ms:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The `done <epoch ms> <peak rss bytes>` line the bench's measured workers print after their last job. */
export async function waitForDone(child: Child): Promise<{ at: number; rss: number }> {
  const [, at, rss] = await child.line(/^done (\d+) (\d+)$/m, 300_000);
  return { at: Number(at), rss: Number(rss) };
}
