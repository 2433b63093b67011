/**
 * A real Redis Cluster of a test's (or a script's) own: masters and replicas from
 * `redis-server --cluster-enabled yes`, joined by `redis-cli --cluster create`, each node in a
 * data directory of its own so its nodes.conf is its own. The shared Redis is never touched.
 *
 * Started ready to serve: every slot covered, every replica attached to its master, so a failover
 * has somewhere to go from the first command on.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { answersPing } from './redis-server.js';
import { waitFor } from './wait-for.js';

const run = promisify(execFile);

export interface ClusterNode {
  port: number;
  /** `host:port`, as REDIS_CLUSTER_NODES lists it. */
  address: string;
}

export interface RedisClusterHandle {
  /** The address nodes bind to and announce. */
  host: string;
  nodes: readonly ClusterNode[];
  /** REDIS_CLUSTER_NODES for this cluster: every node, comma-separated. */
  nodesSetting: string;
  /** The process ids of the nodes running now (to measure their CPU). */
  pids(): number[];
  /** A cluster client the handle closes when the cluster stops. */
  client(): Cluster;
  /** The node (host:port) that serves a key's slot as master right now. */
  masterOf(key: string): Promise<ClusterNode>;
  /** The masters right now. */
  masters(): Promise<ClusterNode[]>;
  /** The replicas of a master right now, as the master lists them. */
  replicasOf(master: ClusterNode): Promise<ClusterNode[]>;
  /** Runs one command on one node (not through the cluster) and answers its reply. */
  command(node: ClusterNode, ...args: [string, ...(string | number)[]]): Promise<unknown>;
  /**
   * Freezes one node (SIGSTOP) and thaws it (SIGCONT): a frozen replica takes nothing from its
   * master, so what the master takes meanwhile is what a crash would lose.
   */
  pause(node: ClusterNode): void;
  resume(node: ClusterNode): void;
  /** Kills one node at once (SIGKILL), as a crash would. */
  kill(node: ClusterNode): Promise<void>;
  /** Waits until every slot is served again (after a failover) and answers the cluster's state. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** FLUSHALL on every master: what a cluster-wide loss of data looks like. */
  flushAll(): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  /** The address to bind to and announce (a bridge address for hosts in network namespaces). */
  host?: string;
  /** How long a master may be silent before its replica takes over. */
  nodeTimeoutMs?: number;
  /** The folder the nodes' data folder is made in. @defaultValue the OS's temporary folder */
  parentDir?: string;
}

export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const host = options.host ?? '127.0.0.1';
  const masterCount = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 1;
  const dataRoot = mkdtempSync(path.join(options.parentDir ?? os.tmpdir(), 'jobfleet-redis-cluster-'));
  const children = new Map<number, ChildProcess>();
  const clients: (Redis | Cluster)[] = [];
  const nodes: ClusterNode[] = [];

  const startNode = async (port: number) => {
    const dir = path.join(dataRoot, String(port));
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        host,
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-node-timeout',
        String(options.nodeTimeoutMs ?? 2_000),
        '--cluster-announce-ip',
        host,
        // Protected mode turns away every client not on loopback when there is no password, which
        // would shut out hosts reaching a bridge address; the node listens on `host` alone.
        '--protected-mode',
        'no',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      { stdio: 'ignore' },
    );
    children.set(port, child);
    await waitFor(`redis cluster node on ${host}:${port}`, () => answersPing(host, port), { timeoutMs: 10_000 });
  };

  const stop = async () => {
    for (const client of clients.splice(0)) client.disconnect();
    // A frozen node ignores everything but SIGKILL; thaw it anyway so nothing is left stopped.
    for (const child of children.values()) child.kill('SIGCONT');
    await Promise.all([...children.values()].map((child) => killChild(child)));
    children.clear();
    rmSync(dataRoot, { recursive: true, force: true });
  };

  try {
    for (let i = 0; i < masterCount * (1 + replicas); i++) {
      const port = await clusterPort(nodes.map((node) => node.port));
      nodes.push({ port, address: `${host}:${port}` });
    }
    await Promise.all(nodes.map((node) => startNode(node.port)));
    await run('redis-cli', [
      '--cluster',
      'create',
      ...nodes.map((node) => node.address),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ]);
  } catch (error) {
    await stop();
    throw error;
  }

  const command = async (node: ClusterNode, ...args: [string, ...(string | number)[]]) => {
    const probe = new Redis(node.port, host, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      return await probe.call(...args);
    } finally {
      probe.disconnect();
    }
  };
  const info = async (node: ClusterNode, section: string) =>
    (await command(node, ...(section.split(' ') as [string, ...string[]]))) as string;

  const running = (port: number) => {
    const child = children.get(port);
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  };
  const alive = () => nodes.filter((node) => running(node.port));

  /** The cluster's own view (CLUSTER NODES) from any node that answers: masters with their slots. */
  const view = async (): Promise<{ node: ClusterNode; slots: [number, number][] }[]> => {
    for (const node of alive()) {
      try {
        const text = await info(node, 'CLUSTER NODES');
        const found: { node: ClusterNode; slots: [number, number][] }[] = [];
        for (const line of text.trim().split('\n')) {
          const [, address, flags, , , , , , ...ranges] = line.split(' ');
          if (!flags?.split(',').includes('master') || flags.includes('fail')) continue;
          const port = Number(address?.split('@')[0]?.split(':')[1]);
          const master = nodes.find((n) => n.port === port);
          if (!master || !running(port)) continue;
          const slots = ranges
            .filter((range) => !range.startsWith('['))
            .map((range) => range.split('-').map(Number) as [number, number?])
            .map(([from, to]): [number, number] => [from, to ?? from]);
          found.push({ node: master, slots });
        }
        return found;
      } catch {
        // This node is going away; ask another.
      }
    }
    throw new Error('no node of the cluster answers');
  };

  const masters = async () => (await view()).map((entry) => entry.node);

  const waitHealthy = async (timeoutMs = 30_000) => {
    await waitFor(
      'every node of the redis cluster to report cluster_state:ok with every slot served',
      async () => {
        for (const node of alive()) {
          const state = await info(node, 'CLUSTER INFO');
          if (!state.includes('cluster_state:ok') || !state.includes('cluster_slots_ok:16384')) return false;
        }
        return (await masters()).length === masterCount;
      },
      { timeoutMs, intervalMs: 100 },
    );
  };

  await waitHealthy();
  // Every replica attached and in sync with its master, so that a failover has one ready.
  await waitFor(
    'every replica to be attached to its master',
    async () => {
      let attached = 0;
      for (const node of await masters()) {
        const replication = await info(node, 'INFO replication');
        attached += (replication.match(/^slave\d+:.*state=online/gm) ?? []).length;
      }
      return attached === masterCount * replicas;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );

  return {
    host,
    nodes,
    nodesSetting: nodes.map((node) => node.address).join(','),
    pids() {
      return alive().map((node) => children.get(node.port)!.pid!);
    },
    client() {
      const cluster = new Cluster(
        nodes.map((node) => ({ host, port: node.port })),
        { redisOptions: { maxRetriesPerRequest: null }, clusterRetryStrategy: (times) => Math.min(100 * times, 1_000) },
      );
      cluster.on('error', () => {});
      clients.push(cluster);
      return cluster;
    },
    async masterOf(key) {
      const slot = Number(await info(alive()[0]!, `CLUSTER KEYSLOT ${key}`));
      const owner = (await view()).find((entry) => entry.slots.some(([from, to]) => slot >= from && slot <= to));
      if (!owner) throw new Error(`no master serves the slot of ${key}`);
      return owner.node;
    },
    masters,
    async replicasOf(master) {
      const replication = await info(master, 'INFO replication');
      const ports = [...replication.matchAll(/^slave\d+:.*port=(\d+)/gm)].map((match) => Number(match[1]));
      return nodes.filter((node) => ports.includes(node.port));
    },
    command,
    pause(node) {
      children.get(node.port)?.kill('SIGSTOP');
    },
    resume(node) {
      children.get(node.port)?.kill('SIGCONT');
    },
    async kill(node) {
      const child = children.get(node.port);
      if (child) await killChild(child);
    },
    waitHealthy,
    async flushAll() {
      for (const node of await masters()) await info(node, 'FLUSHALL');
    },
    stop,
  };
}

/**
 * A port for a node whose cluster bus port (the port + 10000) is valid and free too, and that is
 * not one already picked for this cluster.
 */
async function clusterPort(taken: readonly number[]): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = await freePort();
    if (port + 10_000 > 65_535 || taken.includes(port) || taken.includes(port + 10_000) || taken.includes(port - 10_000)) continue;
    if (await portFree(port + 10_000)) return port;
  }
  throw new Error('found no free pair of ports for a redis cluster node');
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/**
 * The master (host:port) that serves a key's slot, asked through any client of the cluster: for
 * a cluster a test did not start itself (the cluster project's shared one) and has no handle of.
 */
export async function masterAddressOf(client: Cluster, key: string): Promise<string> {
  const slot = Number(await client.call('CLUSTER', 'KEYSLOT', key));
  const ranges = (await client.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]], ...unknown[]][];
  const range = ranges.find(([from, to]) => slot >= from && slot <= to);
  if (!range) throw new Error(`no master serves the slot of ${key}`);
  const [, , [host, port]] = range;
  return `${host}:${port}`;
}
