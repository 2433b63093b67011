/**
 * The agents a killed worker leaves running. A command agent leads a process group of its own
 * (src/executors/command.executor.ts), so SIGKILL of its worker does not reach it: it goes on
 * editing a workspace nobody will publish, and spending. Before a dead worker's workspaces are
 * salvaged, its agents are stopped with their groups, so the salvage takes a tree that no longer
 * changes under it. An agent is known by the JOBFLEET_WORKSPACE its worker gave it, inside the
 * dead worker's slot, not by where it stands: an operator's shell sitting in a workspace is not
 * an agent. Linux only (/proc); elsewhere nothing is found and the salvage goes ahead as before.
 */
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { terminateGroup } from '../util/process-group.js';

/** Stops the groups of the agents whose workspace is under `dir`; returns the groups stopped. */
export async function stopStrayAgents(dir: string): Promise<number[]> {
  // The path the worker gave its agents, and the same with symlinks resolved.
  const forms = [path.resolve(dir)];
  try {
    forms.push(realpathSync(dir));
  } catch {
    return [];
  }
  const groups = groupsWorkingIn(forms);
  await Promise.all(groups.map((group) => terminateGroup(group)));
  return groups;
}

function groupsWorkingIn(dirs: readonly string[]): number[] {
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
      const workspace = readFileSync(`/proc/${entry}/environ`, 'utf8')
        .split('\0')
        .find((variable) => variable.startsWith('JOBFLEET_WORKSPACE='))
        ?.slice('JOBFLEET_WORKSPACE='.length);
      if (workspace === undefined || !dirs.some((dir) => workspace.startsWith(`${dir}${path.sep}`))) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command name: state, ppid, pgrp, ...
      const group = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      // The agent's own group (its worker spawned it detached); never this process's.
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
