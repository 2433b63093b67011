/** Small measuring helpers shared by the bench and its child processes. */
import { readFileSync } from 'node:fs';

/** The peak resident set of this process (VmHWM), in bytes; falls back to the current RSS. */
export function peakRss(pid: number | 'self' = 'self'): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
    if (kb) return kb * 1024;
  } catch {
    // not Linux, or the process is gone
  }
  return pid === 'self' ? process.memoryUsage().rss : 0;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export const round = (value: number, digits = 0) => {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
};
