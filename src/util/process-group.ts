/**
 * Process groups: a child spawned with `detached: true` leads a group of its own, so it and
 * everything it started (an agent CLI's tools, git's ssh, a test runner's workers) can be
 * signalled at once, and a caller can wait until none of them is left.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Between SIGTERM to the group and SIGKILL: time for a process to clean up after itself. */
export const KILL_GRACE_MS = 2000;
/** How long to wait for SIGKILL to take effect before giving up on a process stuck in the kernel. */
export const KILL_WAIT_MS = 1000;
const GROUP_POLL_MS = 25;

/**
 * SIGTERM to the whole group, then SIGKILL to whatever is left after the grace period.
 * Resolves once no member is alive, or (a process stuck in the kernel) shortly after SIGKILL.
 */
export async function terminateGroup(groupId: number): Promise<void> {
  if (!signalGroup(groupId, 'SIGTERM')) return;
  if (await groupEmptiesWithin(groupId, KILL_GRACE_MS)) return;
  signalGroup(groupId, 'SIGKILL');
  await groupEmptiesWithin(groupId, KILL_WAIT_MS);
}

export async function groupEmptiesWithin(groupId: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, GROUP_POLL_MS));
    if (!groupHasLiveMembers(groupId)) return true;
  }
  return false;
}

/**
 * Signal 0 says whether the group exists, but a killed grandchild stays in it as a zombie
 * until init reaps it (about once a second on some hosts, never under a PID 1 that does not
 * reap). On Linux, /proc tells the dead from the living, so an abort need not wait for that.
 */
export function groupHasLiveMembers(groupId: number): boolean {
  if (!signalGroup(groupId, 0)) return false;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true; // No /proc (macOS): trust signal 0; at worst a harmless SIGKILL follows.
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // Exited while we looked.
    }
    // Fields after the parenthesised command name: state, ppid, pgrp, ...
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === groupId && state !== 'Z') return true;
  }
  return false;
}

/** False when the group has no members left. */
export function signalGroup(groupId: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-groupId, signal);
    return true;
  } catch (thrown) {
    const code = (thrown as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return false;
    // A member that switched user (a setuid helper) cannot be signalled, but it exists.
    if (code === 'EPERM') return true;
    throw thrown;
  }
}
