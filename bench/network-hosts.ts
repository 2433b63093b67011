/**
 * "Hosts" on one machine for `npm run scale:hosts`: Linux network namespaces, each joined to a
 * bridge in the root namespace by a veth pair, with addresses on a private /24. A process started
 * with `ip netns exec` inside one sees only its loopback and its link, and reaches the services
 * (listening on the bridge's address) over that link, as a worker on another machine would.
 *
 * Everything made here is named with one prefix, so what a killed run left behind is found and
 * deleted by name before the next run makes its own.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The script cannot make namespaces here; the message says what it needs. */
export class NetworkRightsError extends Error {
  override readonly name = 'NetworkRightsError';
}

export interface NetworkHost {
  /** The namespace's name (`ip netns exec NAME ...`). */
  name: string;
  address: string;
}

export interface HostNetwork {
  /** The bridge's address in the root namespace: where the services listen. */
  bridgeAddress: string;
  /** The subnet in CIDR, for Postgres to trust. */
  cidr: string;
  hosts: NetworkHost[];
  /** The one-way delay put on each link, or null with the reason it could not be. */
  delay: { ms: number } | { ms: null; reason: string };
}

async function ip(...args: string[]): Promise<string> {
  return (await run('ip', args)).stdout;
}

const CAP_NET_ADMIN = 12;
const CAP_SYS_ADMIN = 21;

function effectiveCapabilities(): bigint {
  try {
    const hex = /^CapEff:\s+([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return hex ? BigInt(`0x${hex}`) : 0n;
  } catch {
    return 0n;
  }
}

/**
 * Refuses early, naming what is missing: Linux, the `ip` tool, the capabilities namespaces need
 * (CAP_NET_ADMIN for links and addresses, CAP_SYS_ADMIN for `ip netns`), and a namespace that
 * really can be made (a container may hold the capabilities and still be denied).
 */
export async function checkNetworkRights(prefix: string): Promise<void> {
  const needs = 'it needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2 on Linux: run it as root, e.g. `sudo npm run scale:hosts`';
  if (process.platform !== 'linux') throw new NetworkRightsError(`network namespaces are Linux only; ${needs}`);
  try {
    await ip('-V');
  } catch {
    throw new NetworkRightsError(`the \`ip\` command (iproute2) was not found; ${needs}`);
  }
  const caps = effectiveCapabilities();
  const missing = [
    ...((caps >> BigInt(CAP_NET_ADMIN)) & 1n ? [] : ['CAP_NET_ADMIN']),
    ...((caps >> BigInt(CAP_SYS_ADMIN)) & 1n ? [] : ['CAP_SYS_ADMIN']),
  ];
  if (missing.length > 0) {
    const who = process.getuid?.() === 0 ? 'root without' : `user ${process.getuid?.()} without`;
    throw new NetworkRightsError(`running as ${who} ${missing.join(' and ')}; ${needs}`);
  }
  const probe = `${prefix}probe`;
  try {
    await ip('netns', 'add', probe);
  } catch (error) {
    throw new NetworkRightsError(`\`ip netns add\` failed (${stderrOf(error)}); ${needs}`);
  }
  await ip('netns', 'delete', probe);
}

/** Namespaces and links named with the prefix, and the processes still running inside those namespaces. */
export async function removeHostNetwork(prefix: string): Promise<string[]> {
  const removed: string[] = [];
  const namespaces = (await ip('netns', 'list'))
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter((name) => name.startsWith(prefix));
  for (const name of namespaces) {
    // Deleting a namespace leaves its processes running: end them first (by their ids, found in it).
    const pids = (await ip('netns', 'pids', name).catch(() => ''))
      .split('\n')
      .map(Number)
      .filter((pid) => pid > 0);
    for (const pid of pids) await killAndWait(pid);
    if (pids.length > 0) removed.push(`${pids.length} process(es) in ${name}`);
    await ip('netns', 'delete', name);
    removed.push(`namespace ${name}`);
  }
  // A veth goes with its namespace; the bridge (and a veth whose namespace is gone) stays.
  const links = (await ip('-o', 'link', 'show'))
    .split('\n')
    .map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1])
    .filter((name): name is string => name?.startsWith(prefix) ?? false);
  for (const link of links) {
    await ip('link', 'delete', link).catch(() => undefined);
    removed.push(`link ${link}`);
  }
  return removed;
}

export interface HostNetworkOptions {
  prefix: string;
  count: number;
  /** The first three octets of the /24 (`10.213.0`): .1 is the bridge, .11, .12, ... the hosts. */
  subnet: string;
  /** One-way delay on each link (netem), in milliseconds; 0 for none. */
  delayMs: number;
}

export async function createHostNetwork({ prefix, count, subnet, delayMs }: HostNetworkOptions): Promise<HostNetwork> {
  const taken = (await ip('-4', '-o', 'addr', 'show')).split('\n').find((line) => line.includes(` ${subnet}.`));
  if (taken) throw new Error(`the subnet ${subnet}.0/24 is in use here (${taken.trim()}); choose another with --subnet`);
  const bridge = `${prefix}br`;
  const bridgeAddress = `${subnet}.1`;
  await ip('link', 'add', bridge, 'type', 'bridge');
  await ip('addr', 'add', `${bridgeAddress}/24`, 'dev', bridge);
  await ip('link', 'set', bridge, 'up');

  const hosts: NetworkHost[] = [];
  for (let i = 1; i <= count; i++) {
    const name = `${prefix}${i}`;
    const veth = `${prefix}v${i}`;
    const address = `${subnet}.${10 + i}`;
    await ip('netns', 'add', name);
    await ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name);
    await ip('link', 'set', veth, 'master', bridge, 'up');
    await ip('-n', name, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    await ip('-n', name, 'link', 'set', 'eth0', 'up');
    await ip('-n', name, 'link', 'set', 'lo', 'up');
    hosts.push({ name, address });
  }

  let delay: HostNetwork['delay'] = { ms: null, reason: 'none asked for' };
  if (delayMs > 0) {
    try {
      // Both ends of each link, so a round trip between a host and the services costs 2 x delayMs.
      for (let i = 1; i <= count; i++) {
        await run('tc', ['qdisc', 'add', 'dev', `${prefix}v${i}`, 'root', 'netem', 'delay', `${delayMs}ms`]);
        await run('tc', ['-n', `${prefix}${i}`, 'qdisc', 'add', 'dev', 'eth0', 'root', 'netem', 'delay', `${delayMs}ms`]);
      }
      delay = { ms: delayMs };
    } catch (error) {
      const why = stderrOf(error);
      delay = { ms: null, reason: /kind is unknown/.test(why) ? 'this kernel has no netem qdisc' : `tc netem: ${why}` };
    }
  }
  return { bridgeAddress, cidr: `${subnet}.0/24`, hosts, delay };
}

async function killAndWait(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  for (let tries = 0; tries < 200 && alive(pid); tries++) await new Promise((resolve) => setTimeout(resolve, 25));
}

function alive(pid: number): boolean {
  try {
    // A zombie (state Z) is gone for our purpose: its parent reaps it.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function stderrOf(error: unknown): string {
  const stderr = (error as { stderr?: string }).stderr?.trim();
  return stderr || (error instanceof Error ? error.message : String(error));
}
