/**
 * The agents a killed worker leaves running. A command agent leads a process group of its own
 * (src/executors/command.executor.ts), so SIGKILL of its worker does not reach it: it goes on
 * editing a workspace nobody will publish, and spending. Before a dead worker's workspaces are
 * salvaged, every process whose working directory is inside them is stopped with its group,
 * so the salvage takes a tree that no longer changes under it. Linux only (/proc); elsewhere
 * there is nothing to find and the salvage goes ahead as before.
 */
import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { terminateGroup } from '../util/process-group.js';

/** Stops the process groups of every process working under `dir`; returns the groups stopped. */
export async function stopStrayAgents(dir: string): Promise<number[]> {
  let real: string;
  try {
    // /proc shows working directories with every symlink resolved.
    real = realpathSync(dir);
  } catch {
    return [];
  }
  const groups = groupsWorkingIn(real);
  await Promise.all(groups.map((group) => terminateGroup(group)));
  return groups;
}

function groupsWorkingIn(dir: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const own = ownGroup();
  const groups = new Set<number>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (cwd !== dir && !cwd.startsWith(`${dir}${path.sep}`)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command name: state, ppid, pgrp, ...
      const group = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      // Never this process's own group (a worker does not stop itself).
      if (group > 1 && group !== own) groups.add(group);
    } catch {
      // Exited while we looked, or not ours to read.
    }
  }
  return [...groups];
}

function ownGroup(): number | null {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return null;
  }
}
