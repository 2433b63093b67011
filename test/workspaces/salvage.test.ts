/** Salvage: whatever the agent wrote ends up on jobfleet/salvage/<job>-<epoch>, or in a bundle. */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  branchesOf,
  commitInfo,
  gitIn,
  installHook,
  makeBareRepo,
  numstat,
  removeTempDirs,
  showFiles,
  tempDir,
  tipOf,
  writeFiles,
} from '../helpers/git-repos.js';
import { openOne } from '../helpers/workspace-options.js';

afterAll(removeTempDirs);

describe('salvage', () => {
  it('pushes committed and uncommitted work to the salvage branch', async () => {
    const repo = makeBareRepo();
    const { ws, done } = await openOne(repo.dir, 'job-s', 5);
    writeFiles(ws.dir, { 'committed.txt': 'c\n' });
    gitIn(ws.dir, 'add', '-A');
    gitIn(ws.dir, 'commit', '-q', '-m', 'agent: part one');
    writeFiles(ws.dir, { 'uncommitted.txt': 'u\n', 'README.md': null });

    const { record, bundle, complete } = await ws.salvage('cancelled');
    await done();

    const branch = 'jobfleet/salvage/job-s-5';
    const head = tipOf(repo.dir, branch);
    expect(bundle).toBeNull();
    expect(complete).toBe(true);
    expect(record).toEqual({ branch, base_sha: ws.baseSha, head_sha: head, pushed: true, ...numstat(repo.dir, ws.baseSha, head) });
    expect(record?.changed_files).toEqual(['README.md', 'committed.txt', 'uncommitted.txt']);
    expect(showFiles(repo.dir, branch)).toEqual({ 'committed.txt': 'c\n', 'uncommitted.txt': 'u\n' });
    expect(commitInfo(repo.dir, branch).subject).toBe('jobfleet: work salvaged from job job-s (cancelled)');
    // The job's own branch is not touched by a salvage.
    expect(branchesOf(repo.dir)).toEqual([branch, 'main']);
  });

  it('nothing to salvage: no branch, no record', async () => {
    const repo = makeBareRepo();
    const { ws, done } = await openOne(repo.dir, 'job-n', 1);
    expect(await ws.salvage('timeout')).toEqual({ record: null, bundle: null, complete: true });
    await done();
    expect(await ws.salvage('after removal')).toEqual({ record: null, bundle: null, complete: true });
    expect(branchesOf(repo.dir)).toEqual(['main']);
  });

  it('an index left locked by a killed agent does not stop the salvage', async () => {
    const repo = makeBareRepo();
    const { ws, done } = await openOne(repo.dir, 'job-l', 1);
    writeFiles(ws.dir, { 'half.txt': 'written before the kill\n' });
    writeFileSync(path.resolve(ws.dir, gitIn(ws.dir, 'rev-parse', '--git-path', 'index.lock')), '');

    const { record } = await ws.salvage('worker_lost');
    await done();
    expect(record?.changed_files).toEqual(['half.txt']);
    expect(showFiles(repo.dir, 'jobfleet/salvage/job-l-1')['half.txt']).toBe('written before the kill\n');
  });

  it('a refused salvage push writes a bundle git accepts; history unrelated to base is bundled whole', async () => {
    const repo = makeBareRepo();
    installHook(repo.dir, 'pre-receive', 'exit 1');
    const { ws, done, options } = await openOne(repo.dir, 'job-o', 3);
    // An agent that threw the history away and started over.
    gitIn(ws.dir, 'checkout', '-q', '--orphan', 'fresh-start');
    gitIn(ws.dir, 'rm', '-q', '-rf', '.');
    writeFiles(ws.dir, { 'new-world.txt': 'from scratch\n' });

    const { record, bundle, complete } = await ws.salvage('agent_failed');
    await done();

    expect(bundle).toBe(path.join(options.root, 'unpushed', 'job-o-3.bundle'));
    expect(complete).toBe(true);
    expect(record).toMatchObject({ branch: 'jobfleet/salvage/job-o-3', pushed: false });
    expect(branchesOf(repo.dir)).toEqual(['main']);
    // It needs no commit of the repository: an empty one verifies and fetches it.
    const empty = tempDir();
    gitIn(empty, 'init', '-q');
    expect(() => gitIn(empty, 'bundle', 'verify', bundle!)).not.toThrow();
    gitIn(empty, 'fetch', '-q', bundle!, 'HEAD:refs/heads/recovered');
    expect(showFiles(empty, 'recovered')).toEqual({ 'new-world.txt': 'from scratch\n' });
  });

  it('a worktree that lost its .git is left alone, never mistaken for a repository that encloses the root', async () => {
    const enclosing = tempDir();
    gitIn(enclosing, 'init', '-q');
    const repo = makeBareRepo();
    const { ws, done } = await openOne(repo.dir, 'job-g', 1, { root: path.join(enclosing, 'workspaces') });
    writeFiles(ws.dir, { 'stray.txt': 'x\n' });
    rmSync(path.join(ws.dir, '.git'));

    expect(await ws.salvage('worker_lost')).toEqual({ record: null, bundle: null, complete: true });
    await expect(ws.publish()).rejects.toMatchObject({ code: 'workspace_failed' });
    await done();
    expect(() => gitIn(enclosing, 'rev-parse', '--verify', 'HEAD')).toThrow();
    expect(gitIn(enclosing, 'status', '--porcelain')).toBe('?? workspaces/');
    expect(branchesOf(repo.dir)).toEqual(['main']);
  });
});
