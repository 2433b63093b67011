/**
 * The folder a `scale:hosts` run keeps its servers' data in, with the ids of the processes it
 * started outside the namespaces (the Redis nodes, whose pid files name them; the postmaster,
 * whose postmaster.pid does). A run killed outright (SIGKILL) cannot clean up after itself: the
 * next run reads this folder, ends those processes by their ids and deletes it.
 *
 * Only one run at a time: its network and subnet are fixed, so a second one would break the first.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface RunFolder {
  path: string;
  /** Notes processes to end should this run die without cleaning up. */
  record(what: string, pids: readonly number[]): void;
  /** Ends what is recorded and still running (what a failed start left), and deletes the folder. */
  release(): Promise<void>;
}

/** Claims the folder (ending what an earlier, dead run left in it); answers what was ended. */
export async function claimRunFolder(prefix: string): Promise<{ folder: RunFolder; ended: string[] }> {
  const dir = path.join(os.tmpdir(), `${prefix}run`);
  const ended: string[] = [];
  if (existsSync(dir)) {
    const owner = Number(readText(path.join(dir, 'owner')));
    if (owner > 0 && owner !== process.pid && commandLine(owner).includes('scale-hosts')) {
      throw new Error(`another scale:hosts run (pid ${owner}) is in progress; wait for it or end it`);
    }
    ended.push(...(await endRecorded(dir)));
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'owner'), String(process.pid));
  writeFileSync(path.join(dir, 'pids'), '');
  return {
    folder: {
      path: dir,
      record(what, pids) {
        writeFileSync(path.join(dir, 'pids'), `${what} ${pids.join(' ')}\n`, { flag: 'a' });
      },
      async release() {
        await endRecorded(dir);
        rmSync(dir, { recursive: true, force: true });
      },
    },
    ended,
  };
}

/** Ends the processes the folder records and its Postgres server, where they still run; answers what it ended. */
async function endRecorded(dir: string): Promise<string[]> {
  const ended: string[] = [];
  for (const line of readText(path.join(dir, 'pids')).split('\n').filter(Boolean)) {
    const [what, ...pids] = line.split(' ');
    for (const pid of pids.map(Number)) if (await endProcess(pid, what!)) ended.push(`${what} (pid ${pid})`);
  }
  // The Postgres server outlives its starter (pg_ctl detaches it): its pid file names it.
  for (const entry of readdirSync(dir).filter((name) => name.startsWith('jobfleet-pg-'))) {
    const pid = Number(readText(path.join(dir, entry, 'data', 'postmaster.pid')).split('\n')[0]);
    if (pid > 0 && (await endProcess(pid, 'postgres', 'SIGQUIT'))) ended.push(`postgres (pid ${pid})`);
  }
  return ended;
}

/**
 * Ends a process left by a dead run, if it is still the program it was (a pid may have been
 * reused since), and waits until it is gone. SIGQUIT is Postgres's immediate shutdown.
 */
async function endProcess(pid: number, program: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<boolean> {
  if (!commandLine(pid).includes(program)) return false;
  try {
    process.kill(pid, signal);
  } catch {
    return false;
  }
  for (let tries = 0; tries < 400 && commandLine(pid) !== ''; tries++) await new Promise((resolve) => setTimeout(resolve, 25));
  return true;
}

function commandLine(pid: number): string {
  try {
    if (/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) return '';
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
