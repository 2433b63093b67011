/**
 * Real git repositories for tests: bare repositories in temp directories (the "remote" a product
 * names), seeded through a clone, and the questions a test asks of them (which branches, which
 * files at a ref, what `git diff --numstat` says). Everything runs the `git` CLI synchronously,
 * with a fixed identity, so tests read like the commands a person would type.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const IDENTITY = {
  GIT_AUTHOR_NAME: 'Test Seeder',
  GIT_AUTHOR_EMAIL: 'seeder@example.test',
  GIT_COMMITTER_NAME: 'Test Seeder',
  GIT_COMMITTER_EMAIL: 'seeder@example.test',
};

const made: string[] = [];

/** A temp directory, deleted by `removeTempDirs` (call it in afterAll). */
export function tempDir(prefix = 'jobfleet-git-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** `git <args>` in `dir`; its stdout, trimmed. Throws (with git's stderr) when git fails. */
export function gitIn(dir: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd: dir,
    env: { ...process.env, ...IDENTITY, LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

export interface BareRepo {
  /** The bare repository: its path is the URL a product names. */
  dir: string;
  /**
   * Commits `files` (content, or null to delete) on `branch` and pushes it, as someone else
   * working on the repository would. Returns the new tip.
   */
  commit(branch: string, files: Record<string, string | null>, message?: string): string;
}

export interface BareRepoOptions {
  /** Branches made, all at the first commit; the first is the repository's HEAD. @defaultValue ['main'] */
  branches?: string[];
  /** The first commit's files. @defaultValue { 'README.md': '# seed\n' } */
  files?: Record<string, string>;
  /** No commits at all. */
  empty?: boolean;
}

export function makeBareRepo(options: BareRepoOptions = {}): BareRepo {
  const branches = options.branches ?? ['main'];
  const root = tempDir('jobfleet-repo-');
  const dir = path.join(root, 'origin.git');
  gitIn(root, 'init', '--quiet', '--bare', `--initial-branch=${branches[0] ?? 'main'}`, dir);
  const seed = path.join(root, 'seed');
  gitIn(root, 'clone', '--quiet', dir, seed);

  const commit = (branch: string, files: Record<string, string | null>, message = `change ${Object.keys(files).join(', ')}`) => {
    gitIn(seed, 'fetch', '--quiet', 'origin');
    const exists = gitIn(seed, 'ls-remote', '--heads', 'origin', branch) !== '';
    gitIn(seed, 'checkout', '--quiet', '--force', '-B', branch, ...(exists ? [`origin/${branch}`] : []));
    writeFiles(seed, files);
    gitIn(seed, 'add', '-A');
    gitIn(seed, 'commit', '--quiet', '--allow-empty', '-m', message);
    gitIn(seed, 'push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`);
    return gitIn(seed, 'rev-parse', 'HEAD');
  };

  if (!options.empty) {
    writeFiles(seed, options.files ?? { 'README.md': '# seed\n' });
    gitIn(seed, 'add', '-A');
    gitIn(seed, 'commit', '--quiet', '-m', 'first commit');
    for (const branch of branches) gitIn(seed, 'push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`);
  }
  return { dir, commit };
}

/** Writes (or, for null, deletes) files under `dir`, making directories as needed. */
export function writeFiles(dir: string, files: Record<string, string | null>): void {
  for (const [file, content] of Object.entries(files)) {
    const full = path.join(dir, file);
    if (content === null) rmSync(full, { force: true });
    else {
      mkdirSync(path.dirname(full), { recursive: true });
      writeFileSync(full, content);
    }
  }
}

/** The repository's branches, sorted. */
export function branchesOf(bareDir: string): string[] {
  const out = gitIn(bareDir, 'for-each-ref', '--format=%(refname:strip=2)', 'refs/heads/');
  return out ? out.split('\n').sort() : [];
}

/** The commit a ref points at. */
export function tipOf(bareDir: string, ref: string): string {
  return gitIn(bareDir, 'rev-parse', '--verify', `${ref}^{commit}`);
}

/** Every file at `ref`, path -> content. */
export function showFiles(bareDir: string, ref: string): Record<string, string> {
  const out = gitIn(bareDir, 'ls-tree', '-r', '-z', '--name-only', ref);
  const files: Record<string, string> = {};
  for (const file of out.split('\0').filter(Boolean)) {
    files[file] = execFileSync('git', ['show', `${ref}:${file}`], { cwd: bareDir, encoding: 'utf8' });
  }
  return files;
}

/** What `git diff --numstat --no-renames base head` says: sorted paths and line counts. */
export function numstat(bareDir: string, base: string, head: string): { changed_files: string[]; insertions: number; deletions: number } {
  const out = gitIn(bareDir, 'diff', '--numstat', '--no-renames', base, head);
  const result = { changed_files: [] as string[], insertions: 0, deletions: 0 };
  for (const line of out ? out.split('\n') : []) {
    const [added, deleted, file] = line.split('\t');
    result.insertions += added === '-' ? 0 : Number(added);
    result.deletions += deleted === '-' ? 0 : Number(deleted);
    result.changed_files.push(file ?? '');
  }
  result.changed_files.sort();
  return result;
}

/** The subject, author and committer of a commit, one line each. */
export function commitInfo(bareDir: string, ref: string): { subject: string; author: string; committer: string } {
  const [subject = '', author = '', committer = ''] = gitIn(bareDir, 'log', '-1', '--format=%s%n%an <%ae>%n%cn <%ce>', ref).split('\n');
  return { subject, author, committer };
}

/** Installs a hook in the bare repository, e.g. a pre-receive that refuses every push. */
export function installHook(bareDir: string, name: string, script: string): void {
  const file = path.join(bareDir, 'hooks', name);
  writeFileSync(file, `#!/bin/sh\n${script}\n`);
  chmodSync(file, 0o755);
}
