/**
 * A Redis server of a test's own, for tests that flush, stop or restart Redis: doing that to the
 * shared server would pull the ground from under every other test file running beside it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { waitFor } from './wait-for.js';

export interface PrivateRedis {
  url: string;
  port: number;
  client(): Redis;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** Whether a Redis server answers PING at this address now (one try, no retries). */
export async function answersPing(host: string, port: number): Promise<boolean> {
  const probe = new Redis(port, host, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  const clients: Redis[] = [];

  const ping = () => answersPing('127.0.0.1', port);

  const handle: PrivateRedis = {
    url,
    port,
    client() {
      const redis = new Redis(url, { maxRetriesPerRequest: null });
      redis.on('error', () => {});
      clients.push(redis);
      return redis;
    },
    async start() {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
        stdio: 'ignore',
      });
      await waitFor(`private redis on port ${port}`, ping, { timeoutMs: 10_000 });
    },
    async stop() {
      for (const redis of clients.splice(0)) redis.disconnect();
      const running = child;
      child = null;
      if (running && running.exitCode === null) {
        const exited = new Promise((resolve) => running.once('exit', resolve));
        running.kill('SIGKILL');
        await exited;
      }
    },
  };
  await handle.start();
  return handle;
}
