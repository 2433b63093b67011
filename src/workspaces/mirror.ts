/**
 * A worker's cache of one repository: a bare repository whose `origin` is the product's URL,
 * fetched before every workspace is made from it (fetched, never cloned again), so a job starts
 * from what the repository holds now and pays only for what changed since the last job.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { git } from './git.js';

/** A file whose mtime says when the mirror was last fetched for a workspace or had one removed. */
const LAST_USED_MARKER = 'jobfleet-last-used';

/** `<sha256(url) first 16 hex>.git`: one mirror per URL, a name that is safe whatever the URL holds. */
export function mirrorName(url: string): string {
  return `${createHash('sha256').update(url).digest('hex').slice(0, 16)}.git`;
}

/** Makes an empty bare mirror in `dir` (which must not exist yet); writeMirrorConfig gives it its origin. */
export async function createMirror(dir: string, timeoutMs: number): Promise<void> {
  await git(['init', '--quiet', '--bare', '--', dir], { cwd: path.dirname(dir), timeoutMs });
  await writeFile(path.join(dir, LAST_USED_MARKER), '');
}

export interface MirrorConfig {
  /** What `git init --bare` writes on this filesystem (initConfig). */
  init: string;
  /** The repository: remote origin. */
  url: string;
  /** The identity of commits made in the mirror's worktrees (the agent's; jobfleet sets its own per commit). */
  author: { name: string; email: string };
}

/**
 * Writes the mirror's config whole, over whatever is there. A mirror's worktrees share its config,
 * so an agent can change it from its workspace: `remote.origin.pushurl` or `url.X.insteadOf`
 * would send jobfleet's pushes elsewhere, a filter driver or `core.sshCommand` would run the
 * agent's code in jobfleet's own git, and `extensions.worktreeConfig` would let a worktree's own
 * config file do the same. Written before every fetch, publish and salvage, no such edit outlives
 * the command it was aimed at. The caller holds the mirror lock.
 */
export async function writeMirrorConfig(dir: string, config: MirrorConfig): Promise<void> {
  const text = [
    config.init.trimEnd(),
    '[remote "origin"]',
    `\turl = ${configValue(config.url)}`,
    // The repository's branches land beside the mirror's own (the workspaces' branches) without touching them.
    '\tfetch = +refs/heads/*:refs/remotes/origin/*',
    '[user]',
    `\tname = ${configValue(config.author.name)}`,
    `\temail = ${configValue(config.author.email)}`,
    '',
  ].join('\n');
  // Whole, then renamed into place: a git command reading the config never sees half of it.
  const draft = path.join(dir, `config.${randomBytes(4).toString('hex')}.tmp`);
  await writeFile(draft, text);
  await rename(draft, path.join(dir, 'config'));
}

/**
 * The config `git init --bare` writes in `root`, on this filesystem: the core settings git
 * detects there (core.filemode, and where needed core.ignorecase, core.precomposeunicode,
 * core.symlinks), taken from a repository no agent has seen.
 */
export async function initConfig(root: string, timeoutMs: number): Promise<string> {
  const probe = path.join(root, `.probe-git-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await git(['init', '--quiet', '--bare', '--', probe], { cwd: root, timeoutMs });
    return await readFile(path.join(probe, 'config'), 'utf8');
  } finally {
    await rm(probe, { recursive: true, force: true });
  }
}

/** A value in git's config syntax, quoted so that `#`, `;` and spaces at its ends stay part of it. */
function configValue(value: string): string {
  if (/[\0\r\n]/.test(value)) throw new Error(`a git config value cannot hold a NUL, CR or newline: ${JSON.stringify(value)}`);
  return `"${value.replace(/[\\"]/g, (char) => `\\${char}`).replace(/\t/g, '\\t')}"`;
}

/**
 * Brings refs/remotes/origin/* up to date with the repository at `url`; rejects with GitError.
 * The URL and refspec are given, not read from the `origin` section: an agent of another
 * workspace of the mirror can rewrite that section between jobfleet's config write and this fetch.
 */
export async function fetchMirror(dir: string, url: string, timeoutMs: number): Promise<void> {
  await git(['fetch', '--quiet', '--prune', '--', url, '+refs/heads/*:refs/remotes/origin/*'], { cwd: dir, timeoutMs });
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
