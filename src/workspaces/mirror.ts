/**
 * A worker's cache of one repository: a bare repository whose `origin` is the product's URL,
 * fetched before every workspace is made from it (fetched, never cloned again), so a job starts
 * from what the repository holds now and pays only for what changed since the last job.
 */
import { createHash } from 'node:crypto';
import { stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { git } from './git.js';

/** A file whose mtime says when the mirror was last fetched for a workspace or had one removed. */
const LAST_USED_MARKER = 'jobfleet-last-used';

/** `<sha256(url) first 16 hex>.git`: one mirror per URL, a name that is safe whatever the URL holds. */
export function mirrorName(url: string): string {
  return `${createHash('sha256').update(url).digest('hex').slice(0, 16)}.git`;
}

export interface MirrorGit {
  timeoutMs: number;
  author: { name: string; email: string };
}

/** Makes an empty mirror of `url` in `dir` (which must not exist yet); fetching is separate. */
export async function createMirror(dir: string, url: string, options: MirrorGit): Promise<void> {
  await git(['init', '--quiet', '--bare', '--', dir], { cwd: path.dirname(dir), timeoutMs: options.timeoutMs });
  // `remote add` writes the fetch refspec +refs/heads/*:refs/remotes/origin/*: the repository's
  // branches land beside the mirror's own (the workspaces' branches) without touching them.
  await git(['remote', 'add', '--', 'origin', url], { cwd: dir, timeoutMs: options.timeoutMs });
  await setAuthor(dir, options);
  await writeFile(path.join(dir, LAST_USED_MARKER), '');
}

/** The identity of commits made in the mirror's worktrees (jobfleet's own, and the agent's). */
export async function setAuthor(dir: string, options: MirrorGit): Promise<void> {
  await git(['config', 'user.name', options.author.name], { cwd: dir, timeoutMs: options.timeoutMs });
  await git(['config', 'user.email', options.author.email], { cwd: dir, timeoutMs: options.timeoutMs });
}

/** Brings refs/remotes/origin/* up to date with the repository; rejects with GitError. */
export async function fetchMirror(dir: string, timeoutMs: number): Promise<void> {
  await git(['fetch', '--quiet', '--prune', 'origin'], { cwd: dir, timeoutMs });
}

/** The repository's branches as of the last fetch: name -> commit. */
export async function remoteBranches(dir: string, timeoutMs: number): Promise<Map<string, string>> {
  const prefix = 'refs/remotes/origin/';
  const { stdout } = await git(['for-each-ref', '--format=%(objectname) %(refname)', prefix], { cwd: dir, timeoutMs });
  const branches = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const space = line.indexOf(' ');
    if (space === -1) continue;
    const name = line.slice(space + 1).slice(prefix.length);
    if (name !== 'HEAD') branches.set(name, line.slice(0, space));
  }
  return branches;
}

export async function touchMirror(dir: string): Promise<void> {
  const now = new Date();
  await utimes(path.join(dir, LAST_USED_MARKER), now, now).catch(() => writeFile(path.join(dir, LAST_USED_MARKER), ''));
}

/** When the mirror was last used; the directory's own time when the marker is gone. */
export async function mirrorLastUsed(dir: string): Promise<Date> {
  const marker = await stat(path.join(dir, LAST_USED_MARKER)).catch(() => stat(dir));
  return marker.mtime;
}
