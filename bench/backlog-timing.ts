/**
 * The timed acts of `npm run bench:backlog`: one `jobfleet sweeper --once` as a process of its
 * own, a GET against the API, and a replay of the event stream.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { cpuSecondsOf, cpuSecondsOfTree, machineCpuSeconds, reapedCpuSeconds } from './process-cpu.js';

const ROOT = path.join(import.meta.dirname, '..');

export interface SweepRun {
  wallS: number;
  /** The sweeper process's own CPU, its start included. */
  cpuS: number;
  /** The bench's own Redis server over the sweep. */
  redisCpuS: number;
  /** The shared Postgres server (every backend of it, others' work included): indicative only; null when not on this machine. */
  postgresCpuS: number | null;
  /** The share of every core's time the machine was busy over the sweep (others' work included). */
  machineBusy: number;
  /** The sweep's report (what it repaired). */
  report: Record<string, number>;
}

export interface SweepTarget {
  cli: string;
  env: Record<string, string>;
  redisPid: number;
  postmasterPid: number | null;
}

/**
 * One `jobfleet sweeper --once` of the compiled build (`cli`: dist/src/cli/main.js): without tsx's
 * loader, whose start costs about a second of CPU and varies by a tenth, more than the acceptance
 * figure's margin. Its CPU is read from this process's reaped children (nothing else of ours exits
 * meanwhile).
 */
export async function runSweep({ cli, env, redisPid, postmasterPid }: SweepTarget): Promise<SweepRun> {
  const before = {
    at: performance.now(),
    reaped: reapedCpuSeconds(process.pid),
    redis: cpuSecondsOf([redisPid]),
    postgres: postmasterPid === null ? 0 : cpuSecondsOfTree(postmasterPid),
    machine: machineCpuSeconds(),
  };
  // The sources' CLI (src/cli/main.ts) through tsx, as the bench's own test runs it.
  const loader = cli.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = spawn(process.execPath, [...loader, path.resolve(ROOT, cli), 'sweeper', '--once'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const machine = machineCpuSeconds();
  const run = {
    machineBusy: (machine.busy - before.machine.busy) / Math.max(machine.total - before.machine.total, 0.01),
    wallS: (performance.now() - before.at) / 1000,
    cpuS: reapedCpuSeconds(process.pid) - before.reaped,
    redisCpuS: cpuSecondsOf([redisPid]) - before.redis,
    postgresCpuS: postmasterPid === null ? null : cpuSecondsOfTree(postmasterPid) - before.postgres,
  };
  if (code !== 0) throw new Error(`jobfleet sweeper --once exited with ${code}:\n${output}`);
  const report = output.split('\n').find((line) => line.startsWith('{'));
  if (!report) throw new Error(`jobfleet sweeper --once printed no report:\n${output}`);
  return { ...run, report: JSON.parse(report) as Record<string, number> };
}

export interface Answer {
  status: number;
  bytes: number;
  ms: number;
}

/** GETs a path over a kept-alive socket; resolves with the status, the body's size and the time to its end. */
export function createGetter(base: string, headers: Record<string, string>) {
  const url = new URL(base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (requestPath: string, timeoutMs = 300_000) =>
    new Promise<Answer & { body: string }>((resolve, reject) => {
      const at = performance.now();
      const request = http.request({ agent, host: url.hostname, port: url.port, path: requestPath, method: 'GET', headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          resolve({ status: response.statusCode ?? 0, bytes: Buffer.byteLength(body), ms: performance.now() - at, body });
        });
        response.on('error', reject);
      });
      request.setTimeout(timeoutMs, () => request.destroy(new Error(`GET ${requestPath}: no answer within ${timeoutMs} ms`)));
      request.on('error', reject);
      request.end();
    });
  return { get, close: () => agent.destroy() };
}

export interface Replay {
  /** Time until the stream's `connected` event, which follows the replay. */
  ms: number;
  /** Replayed events received before it. */
  events: number;
  /** Whether the replay did not finish within the time allowed (ms is then that time). */
  timedOut: boolean;
}

/**
 * Opens GET /api/v1/events (SSE) with the given query and headers, and counts the replayed events
 * (those with an id) until `connected`, which the route sends once the replay is done; then closes.
 */
export function timeReplay(base: string, query: string, headers: Record<string, string>, timeoutMs: number): Promise<Replay> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const at = performance.now();
    let events = 0;
    let text = '';
    let done = false;
    const finish = (timedOut: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      request.destroy();
      resolve({ ms: timedOut ? timeoutMs : performance.now() - at, events, timedOut });
    };
    const timer = setTimeout(() => finish(true), timeoutMs);
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: `/api/v1/events${query}`,
        method: 'GET',
        headers: { ...headers, accept: 'text/event-stream' },
      },
      (response) => {
        if (response.statusCode !== 200) {
          clearTimeout(timer);
          done = true;
          reject(new Error(`GET /api/v1/events${query}: ${response.statusCode}`));
          request.destroy();
          return;
        }
        response.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          // Whole events only: an event ends with a blank line.
          const end = text.lastIndexOf('\n\n');
          if (end < 0) return;
          for (const event of text.slice(0, end).split('\n\n')) {
            if (/^event: connected$/m.test(event)) return finish(false);
            if (/^id: /m.test(event)) events += 1;
          }
          text = text.slice(end + 2);
        });
        response.on('error', () => finish(true));
      },
    );
    request.on('error', (error) => (done ? undefined : reject(error)));
    request.end();
  });
}

export const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
