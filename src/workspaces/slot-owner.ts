/**
 * Who owns a slot directory, and whether that process is gone. A pid alone is not enough: after
 * a reboot, or long enough, another process has the same pid; its start time (in clock ticks
 * since boot) and the boot id tell that process apart from the one that wrote owner.json.
 * And a pid means something only in its own pid namespace: workers in two containers that share
 * WORKSPACE_ROOT (and, often, the hostname) cannot see each other's processes, so an owner of
 * another namespace is not judged by its pid from here: its Workspaces touches owner.json every
 * heartbeat instead, and a slot whose owner.json went unchanged for MISSED_HEARTBEATS heartbeats
 * is dead (a container restarted with the same hostname, in a new pid namespace).
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/** How often a live Workspaces touches its slot's owner.json. */
export const OWNER_HEARTBEAT_MS = 60_000;
/** An owner that cannot be judged by its pid is dead once its owner.json is this many heartbeats old. */
export const MISSED_HEARTBEATS = 10;

/** True when owner.json, last touched at `mtimeMs`, has missed MISSED_HEARTBEATS heartbeats. */
export function heartbeatStopped(mtimeMs: number, heartbeatMs: number, now = Date.now()): boolean {
  return now - mtimeMs > MISSED_HEARTBEATS * heartbeatMs;
}

export interface SlotOwner {
  pid: number;
  hostname: string;
  /** /proc/sys/kernel/random/boot_id; null where there is none (not Linux). */
  boot_id: string | null;
  /** Field 22 of /proc/<pid>/stat; null where there is none. */
  start_ticks: number | null;
  /** The pid namespace, as /proc/self/ns/pid names it (`pid:[4026531836]`); null where there is none. */
  pid_ns: string | null;
  started_at: string;
}

export function currentOwner(): SlotOwner {
  return {
    pid: process.pid,
    hostname: hostname(),
    boot_id: bootId(),
    start_ticks: processStat(process.pid)?.startTicks ?? null,
    pid_ns: pidNamespace(),
    started_at: new Date().toISOString(),
  };
}

/** Parses an owner record; null when the text is not one. */
export function parseOwner(text: string): SlotOwner | null {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return null;
    const owner = value as Partial<SlotOwner>;
    if (typeof owner.pid !== 'number' || typeof owner.hostname !== 'string') return null;
    return {
      pid: owner.pid,
      hostname: owner.hostname,
      boot_id: typeof owner.boot_id === 'string' ? owner.boot_id : null,
      start_ticks: typeof owner.start_ticks === 'number' ? owner.start_ticks : null,
      pid_ns: typeof owner.pid_ns === 'string' ? owner.pid_ns : null,
      started_at: typeof owner.started_at === 'string' ? owner.started_at : '',
    };
  } catch {
    return null;
  }
}

/**
 * Why this process cannot tell whether the owner lives, null when it can. An owner on another
 * host: its slot is on a shared disk and not ours to salvage. An owner in another pid namespace,
 * or one whose owner.json does not say its namespace while ours is known: its pid names another
 * process here, or none, whether or not it still runs.
 */
export function unjudgeableOwner(owner: SlotOwner): 'another host' | 'another pid namespace' | null {
  if (owner.hostname !== hostname()) return 'another host';
  const namespace = pidNamespace();
  if (namespace !== null && owner.pid_ns !== namespace) return 'another pid namespace';
  return null;
}

/**
 * True only when the owner is known to be dead: it ran on this host in this pid namespace, and
 * its pid is gone (or a zombie), or belongs to another process (other start ticks) or another boot.
 */
export function ownerIsGone(owner: SlotOwner): boolean {
  if (unjudgeableOwner(owner) !== null) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (thrown) {
    // EPERM: the pid exists (another user's process); whether it is still our worker, the
    // boot id and start ticks below tell.
    if ((thrown as NodeJS.ErrnoException).code === 'ESRCH') return true;
  }
  const boot = bootId();
  if (owner.boot_id !== null && boot !== null && owner.boot_id !== boot) return true;
  const stat = processStat(owner.pid);
  if (stat === null) return boot !== null; // On Linux, no /proc entry means no process.
  if (stat.zombie) return true;
  return owner.start_ticks !== null && stat.startTicks !== owner.start_ticks;
}

function pidNamespace(): string | null {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return null;
  }
}

function bootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
}

function processStat(pid: number): { startTicks: number; zombie: boolean } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name start with field 3 (state); starttime is 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { startTicks: Number(fields[22 - 3]), zombie: fields[0] === 'Z' };
  } catch {
    return null;
  }
}
