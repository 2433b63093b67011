/**
 * CPU time of processes and of the machine, read from /proc (Linux only), to say what a run
 * spent its CPU on and whether the machine was full.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

/** utime, stime, cutime, cstime and ppid of a process, or null when it is gone. */
function statOf(pid: number): { ticks: number; reaped: number; ppid: number } | null {
  try {
    // The command name (field 2) may hold spaces: the fields after it start past its last ')'.
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return {
      ppid: Number(fields[1]),
      ticks: Number(fields[11]) + Number(fields[12]),
      reaped: Number(fields[13]) + Number(fields[14]),
    };
  } catch {
    return null;
  }
}

/** CPU seconds the processes have used so far (those gone count nothing). */
export function cpuSecondsOf(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) ticks += statOf(pid)?.ticks ?? 0;
  return ticks / TICKS_PER_SECOND;
}

/**
 * CPU seconds of a server and every child it has: a Postgres postmaster with its backends. The
 * children that have exited and been reaped count through the parent's cutime and cstime, so a
 * backend that came and went between two readings is not lost.
 */
export function cpuSecondsOfTree(root: number): number {
  const own = statOf(root);
  if (own === null) return 0;
  let ticks = own.ticks + own.reaped;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const child = statOf(Number(entry));
    if (child?.ppid === root) ticks += child.ticks;
  }
  return ticks / TICKS_PER_SECOND;
}

/** The machine's busy and total CPU seconds so far, over every core (from /proc/stat). */
export function machineCpuSeconds(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  return { busy: busy / TICKS_PER_SECOND, total: (busy + idle! + iowait!) / TICKS_PER_SECOND };
}

/**
 * CPU seconds of a process's children that have exited and been reaped (its cutime and cstime):
 * read around a child's whole life, what a short-lived child spent, since once it has exited its
 * own /proc entry is gone.
 */
export function reapedCpuSeconds(pid: number): number {
  return (statOf(pid)?.reaped ?? 0) / TICKS_PER_SECOND;
}
