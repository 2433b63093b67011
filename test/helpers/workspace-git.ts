/**
 * Real git repositories for the workspace tests, and what the tests ask of them: bare
 * repositories standing in for a product's remote, read back with the `git` CLI.
 * (Until test/helpers/git-repos.ts lands; then these go over to it.)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Runs git in `cwd` with a fixed identity; answers stdout without its last newline. */
export function gitIn(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.test', ...args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).replace(/\n$/, '');
}

/**
 * A bare repository under `parent` whose `branch` holds one commit with `files`; no commits at
 * all when `files` is null (an empty repository).
 */
export function makeBareRepo(
  parent: string,
  options: { branch?: string; files?: Record<string, string> | null; name?: string } = {},
): string {
  const branch = options.branch ?? 'main';
  const bare = path.join(parent, `${options.name ?? 'repo'}-${Math.random().toString(36).slice(2, 8)}.git`);
  gitIn(parent, 'init', '-q', '--bare', `--initial-branch=${branch}`, bare);
  const files = options.files === undefined ? { 'README.md': 'A product.\n' } : options.files;
  if (files === null) return bare;
  const seed = mkdtempSync(path.join(parent, 'seed-'));
  try {
    gitIn(seed, 'init', '-q', `--initial-branch=${branch}`);
    for (const [file, content] of Object.entries(files)) writeFileSync(path.join(seed, file), content);
    gitIn(seed, 'add', '-A');
    gitIn(seed, 'commit', '-q', '-m', 'initial commit');
    gitIn(seed, 'push', '-q', bare, `HEAD:refs/heads/${branch}`);
  } finally {
    rmSync(seed, { recursive: true, force: true });
  }
  return bare;
}

/** The repository's branch names, sorted. */
export function branchesOf(bare: string): string[] {
  const out = gitIn(bare, 'for-each-ref', '--format=%(refname:short)', 'refs/heads/');
  return out ? out.split('\n').sort() : [];
}

/** The sha a ref points at, or null when it does not exist. */
export function shaOf(bare: string, ref: string): string | null {
  try {
    return gitIn(bare, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`);
  } catch {
    return null;
  }
}

/** The paths of the files in a commit, sorted. */
export function showFiles(bare: string, ref: string): string[] {
  return gitIn(bare, 'ls-tree', '-r', '--name-only', ref).split('\n').filter(Boolean).sort();
}

/** One file's content at a commit. */
export function fileAt(bare: string, ref: string, file: string): string {
  return gitIn(bare, 'show', `${ref}:${file}`);
}

/** What `git diff --numstat` says between two commits, in the shape of a workspace record. */
export function diffStat(bare: string, base: string, head: string) {
  const lines = gitIn(bare, 'diff', '--numstat', '--no-renames', base, head).split('\n').filter(Boolean);
  const rows = lines.map((line) => line.split('\t') as [string, string, string]);
  return {
    changed_files: rows.map(([, , file]) => file).sort(),
    insertions: rows.reduce((sum, [added]) => sum + Number(added), 0),
    deletions: rows.reduce((sum, [, deleted]) => sum + Number(deleted), 0),
  };
}

/** The commits from `base` (exclusive) to `head`, oldest first: subject and author name. */
export function commitsBetween(bare: string, base: string, head: string): { subject: string; author: string }[] {
  const out = gitIn(bare, 'log', '--reverse', '--format=%s%x09%an', `${base}..${head}`);
  return out
    ? out.split('\n').map((line) => {
        const [subject = '', author = ''] = line.split('\t');
        return { subject, author };
      })
    : [];
}

/** Makes every push to the repository refused, as a server-side hook would. */
export function refusePushes(bare: string): void {
  const hook = path.join(bare, 'hooks', 'pre-receive');
  writeFileSync(hook, '#!/bin/sh\necho "pushes are closed today" >&2\nexit 1\n', { mode: 0o755 });
}
