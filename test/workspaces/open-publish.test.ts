/**
 * A workspace per job on real git: what the agent leaves is committed and pushed to the job's
 * branch, and the record says exactly what `git` says in the repository.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openWorkspaces, type Workspaces } from '../../src/workspaces/index.js';
import {
  branchesOf,
  commitInfo,
  gitIn,
  makeBareRepo,
  numstat,
  removeTempDirs,
  showFiles,
  tipOf,
  writeFiles,
} from '../helpers/git-repos.js';
import { AUTHOR, openOne, workspaceOptions } from '../helpers/workspace-options.js';

afterAll(removeTempDirs);

async function withWorkspaces<T>(use: (workspaces: Workspaces, root: string) => Promise<T>): Promise<T> {
  const options = workspaceOptions();
  const workspaces = await openWorkspaces(options);
  try {
    return await use(workspaces, options.root);
  } finally {
    await workspaces.close();
  }
}

describe('open and publish', () => {
  it('commits edits, additions and deletions left uncommitted and pushes them; the record matches the repository', async () => {
    const repo = makeBareRepo({ files: { 'README.md': '# app\n', 'src/a.txt': 'one\ntwo\n', 'old.txt': 'bye\n' } });
    const base = tipOf(repo.dir, 'main');
    await withWorkspaces(async (workspaces) => {
      const ws = await workspaces.open({
        jobId: 'job-1',
        claimEpoch: 1,
        repository: { url: repo.dir, defaultBranch: 'main' },
        branch: 'jobfleet/task-1',
      });
      expect(ws.baseSha).toBe(base);
      expect(ws.branch).toBe('jobfleet/task-1');
      writeFiles(ws.dir, { 'src/a.txt': 'one\nTWO\nthree\n', 'old.txt': null, 'new dir/b.txt': 'new\n' });

      const record = await ws.publish();
      await ws.remove();

      const head = tipOf(repo.dir, 'jobfleet/task-1');
      expect(record).toEqual({ branch: 'jobfleet/task-1', base_sha: base, head_sha: head, pushed: true, ...numstat(repo.dir, base, head) });
      expect(record.changed_files).toEqual(['new dir/b.txt', 'old.txt', 'src/a.txt']);
      expect(showFiles(repo.dir, 'jobfleet/task-1')).toEqual({
        'README.md': '# app\n',
        'src/a.txt': 'one\nTWO\nthree\n',
        'new dir/b.txt': 'new\n',
      });
      expect(commitInfo(repo.dir, head)).toEqual({
        subject: 'jobfleet: work left uncommitted by job job-1',
        author: `${AUTHOR.name} <${AUTHOR.email}>`,
        committer: `${AUTHOR.name} <${AUTHOR.email}>`,
      });
      expect(existsSync(ws.dir)).toBe(false);
    });
  });

  it("pushes the agent's own commits as they are, plus a commit of what it left after them", async () => {
    const repo = makeBareRepo();
    const base = tipOf(repo.dir, 'main');
    await withWorkspaces(async (workspaces) => {
      const ws = await workspaces.open({
        jobId: 'job-2',
        claimEpoch: 3,
        repository: { url: repo.dir, defaultBranch: 'main' },
        branch: 'jobfleet/task-2',
      });
      writeFiles(ws.dir, { 'one.txt': '1\n' });
      gitIn(ws.dir, 'add', 'one.txt');
      gitIn(ws.dir, 'commit', '-q', '-m', 'agent: first');
      writeFiles(ws.dir, { 'two.txt': '2\n' });
      gitIn(ws.dir, 'add', 'two.txt');
      gitIn(ws.dir, 'commit', '-q', '-m', 'agent: second');
      const agentHead = gitIn(ws.dir, 'rev-parse', 'HEAD');
      writeFiles(ws.dir, { 'README.md': 'changed\n' });

      const record = await ws.publish({ message: 'jobfleet: step 1: the title' });
      await ws.remove();

      const head = tipOf(repo.dir, 'jobfleet/task-2');
      expect(record).toEqual({ branch: 'jobfleet/task-2', base_sha: base, head_sha: head, pushed: true, ...numstat(repo.dir, base, head) });
      expect(gitIn(repo.dir, 'log', '--format=%s', `${base}..${head}`).split('\n')).toEqual([
        'jobfleet: step 1: the title',
        'agent: second',
        'agent: first',
      ]);
      expect(gitIn(repo.dir, 'rev-parse', `${head}^`)).toBe(agentHead);
    });
  });

  it('an agent that commits everything itself gets no extra commit', async () => {
    const repo = makeBareRepo();
    await withWorkspaces(async (workspaces) => {
      const ws = await workspaces.open({
        jobId: 'job-3',
        claimEpoch: 1,
        repository: { url: repo.dir, defaultBranch: 'main' },
        branch: 'jobfleet/task-3',
      });
      writeFiles(ws.dir, { 'x.txt': 'x\n' });
      gitIn(ws.dir, 'add', '-A');
      gitIn(ws.dir, 'commit', '-q', '-m', 'agent: all of it');
      const record = await ws.publish();
      await ws.remove();
      expect(commitInfo(repo.dir, 'jobfleet/task-3').subject).toBe('agent: all of it');
      expect(record.head_sha).toBe(tipOf(repo.dir, 'jobfleet/task-3'));
      expect(record.changed_files).toEqual(['x.txt']);
    });
  });

  it('nothing changed: no push, no branch, pushed false', async () => {
    const repo = makeBareRepo();
    const base = tipOf(repo.dir, 'main');
    await withWorkspaces(async (workspaces) => {
      const ws = await workspaces.open({
        jobId: 'job-4',
        claimEpoch: 1,
        repository: { url: repo.dir, defaultBranch: 'main' },
        branch: 'jobfleet/task-4',
      });
      const record = await ws.publish();
      await ws.remove();
      expect(record).toEqual({
        branch: 'jobfleet/task-4',
        base_sha: base,
        head_sha: base,
        changed_files: [],
        insertions: 0,
        deletions: 0,
        pushed: false,
      });
      expect(branchesOf(repo.dir)).toEqual(['main']);
    });
  });

  it('publish with `since` records and pushes only what moved after it (a batch run step by step)', async () => {
    const repo = makeBareRepo();
    await withWorkspaces(async (workspaces) => {
      const ws = await workspaces.open({
        jobId: 'run-job',
        claimEpoch: 1,
        repository: { url: repo.dir, defaultBranch: 'main' },
        branch: 'jobfleet/run-9',
      });
      writeFiles(ws.dir, { 'step1.txt': 'a\n' });
      const first = await ws.publish({ message: 'jobfleet: step 1: first' });
      const unchanged = await ws.publish({ message: 'jobfleet: step 2: nothing', since: first.head_sha });
      writeFiles(ws.dir, { 'step3.txt': 'b\nc\n' });
      const third = await ws.publish({ message: 'jobfleet: step 3: third', since: first.head_sha });
      await ws.remove();

      expect(first.changed_files).toEqual(['step1.txt']);
      expect(unchanged).toMatchObject({ base_sha: first.head_sha, head_sha: first.head_sha, pushed: false, changed_files: [] });
      expect(third).toEqual({
        branch: 'jobfleet/run-9',
        base_sha: first.head_sha,
        head_sha: tipOf(repo.dir, 'jobfleet/run-9'),
        pushed: true,
        ...numstat(repo.dir, first.head_sha, third.head_sha),
      });
      expect(third.changed_files).toEqual(['step3.txt']);
      expect(gitIn(repo.dir, 'log', '--format=%s', 'main..jobfleet/run-9').split('\n')).toEqual([
        'jobfleet: step 3: third',
        'jobfleet: step 1: first',
      ]);
    });
  });

  it('starts from the branch tip when the branch exists in the repository, else from the default branch', async () => {
    const repo = makeBareRepo({ branches: ['trunk'] });
    await withWorkspaces(async (workspaces) => {
      const first = await workspaces.open({
        jobId: 'job-5',
        claimEpoch: 1,
        repository: { url: repo.dir, defaultBranch: 'trunk' },
        branch: 'jobfleet/task-5',
      });
      expect(first.baseSha).toBe(tipOf(repo.dir, 'trunk'));
      writeFiles(first.dir, { 'attempt1.txt': '1\n' });
      const pushed = await first.publish();
      await first.remove();

      const retry = await workspaces.open({
        jobId: 'job-6',
        claimEpoch: 1,
        repository: { url: repo.dir, defaultBranch: 'trunk' },
        branch: 'jobfleet/task-5',
      });
      expect(retry.baseSha).toBe(pushed.head_sha);
      expect(readdirSync(retry.dir)).toContain('attempt1.txt');
      writeFiles(retry.dir, { 'attempt2.txt': '2\n' });
      const second = await retry.publish();
      await retry.remove();
      expect(second.changed_files).toEqual(['attempt2.txt']);
      expect(Object.keys(showFiles(repo.dir, 'jobfleet/task-5')).sort()).toEqual(['README.md', 'attempt1.txt', 'attempt2.txt']);
    });
  });

  it('fetches on every open, into the same mirror: a commit pushed to the default branch meanwhile is the next base', async () => {
    const repo = makeBareRepo();
    await withWorkspaces(async (workspaces, root) => {
      const first = await workspaces.open({
        jobId: 'job-7',
        claimEpoch: 1,
        repository: { url: repo.dir, defaultBranch: 'main' },
        branch: 'jobfleet/task-7',
      });
      const mirror = mirrorOf(root);
      const inode = statSync(mirror).ino;
      // A file, not a config key: the config is rewritten before every fetch.
      writeFileSync(path.join(mirror, 'test-marker'), 'first-clone');
      await first.remove();

      const newTip = repo.commit('main', { 'later.txt': 'pushed by someone\n' });
      const second = await workspaces.open({
        jobId: 'job-8',
        claimEpoch: 1,
        repository: { url: repo.dir, defaultBranch: 'main' },
        branch: 'jobfleet/task-8',
      });
      expect(second.baseSha).toBe(newTip);
      expect(readdirSync(second.dir)).toContain('later.txt');
      expect(mirrorOf(root)).toBe(mirror);
      expect(statSync(mirror).ino).toBe(inode);
      expect(readFileSync(path.join(mirror, 'test-marker'), 'utf8')).toBe('first-clone');
      await second.remove();
    });
  });

  it('remove deletes the worktree, its local branch and its metadata, and may be called twice', async () => {
    const repo = makeBareRepo();
    await withWorkspaces(async (workspaces, root) => {
      const ws = await workspaces.open({
        jobId: 'job-9',
        claimEpoch: 2,
        repository: { url: repo.dir, defaultBranch: 'main' },
        branch: 'jobfleet/task-9',
      });
      const mirror = mirrorOf(root);
      expect(existsSync(`${ws.dir}.json`)).toBe(true);
      expect(gitIn(mirror, 'branch', '--list', 'jobfleet/task-9')).not.toBe('');
      await Promise.all([ws.remove(), ws.remove()]);
      await ws.remove();
      expect(existsSync(ws.dir)).toBe(false);
      expect(existsSync(`${ws.dir}.json`)).toBe(false);
      expect(gitIn(mirror, 'branch', '--list', 'jobfleet/task-9')).toBe('');
      expect(gitIn(mirror, 'worktree', 'list', '--porcelain')).not.toContain(ws.dir);
      expect(readdirSync(path.dirname(ws.dir))).toEqual([]);
    });
  });

  it('close waits for a removal under way', async () => {
    const repo = makeBareRepo();
    const { ws, workspaces } = await openOne(repo.dir, 'job-10');
    void ws.remove();
    await workspaces.close();
    expect(existsSync(ws.dir)).toBe(false);
    expect(existsSync(`${ws.dir}.json`)).toBe(false);
    await expect(
      workspaces.open({ jobId: 'job-11', claimEpoch: 1, repository: { url: repo.dir, defaultBranch: 'main' }, branch: 'jobfleet/task-11' }),
    ).rejects.toMatchObject({ code: 'workspace_failed' });
  });
});

describe('discard', () => {
  it("drops what a check left after a publish (edits, staged changes, new files) and keeps ignored files and the agent's commits", async () => {
    const repo = makeBareRepo({ files: { 'README.md': '# app\n', '.gitignore': 'node_modules/\n' } });
    const { ws, done } = await openOne(repo.dir, 'job-discard');
    writeFiles(ws.dir, { 'step.txt': 'step 1\n' });
    const published = await ws.publish({ message: 'jobfleet: step 1: one' });
    // A check's leftovers: a formatter's edits (one of them staged), build output; and installed packages.
    writeFiles(ws.dir, {
      'README.md': 'reformatted\n',
      'step.txt': 'reformatted\n',
      'dist/out.js': 'built\n',
      'node_modules/dep/index.js': 'dep\n',
    });
    gitIn(ws.dir, 'add', 'step.txt');

    await ws.discard();

    expect(gitIn(ws.dir, 'status', '--porcelain')).toBe('');
    expect(gitIn(ws.dir, 'rev-parse', 'HEAD')).toBe(published.head_sha);
    expect(readFileSync(path.join(ws.dir, 'README.md'), 'utf8')).toBe('# app\n');
    expect(readFileSync(path.join(ws.dir, 'step.txt'), 'utf8')).toBe('step 1\n');
    expect(existsSync(path.join(ws.dir, 'dist'))).toBe(false);
    expect(readFileSync(path.join(ws.dir, 'node_modules', 'dep', 'index.js'), 'utf8')).toBe('dep\n');
    // The next step's publish finds nothing of the check's to commit.
    expect(await ws.publish({ message: 'jobfleet: step 2: two', since: published.head_sha })).toMatchObject({
      pushed: false,
      changed_files: [],
    });
    await done();
    expect(tipOf(repo.dir, ws.branch)).toBe(published.head_sha);
  });
});

/** The one mirror under the root's one slot. */
function mirrorOf(root: string): string {
  const slots = readdirSync(path.join(root, 'slots'));
  expect(slots).toHaveLength(1);
  const mirrors = readdirSync(path.join(root, 'slots', slots[0]!, 'mirrors'));
  expect(mirrors).toHaveLength(1);
  return path.join(root, 'slots', slots[0]!, 'mirrors', mirrors[0]!);
}
