/** Salvage: whatever the agent wrote ends up on jobfleet/salvage/<job>-<epoch>, or in a bundle. */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openWorkspaces } from '../../src/workspaces/index.js';
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
import { workspaceOptions } from '../helpers/workspace-options.js';

afterAll(removeTempDirs);

describe('salvage', () => {
  it('pushes committed and uncommitted work to the salvage branch', async () => {
    const repo = makeBareRepo();
    const workspaces = await openWorkspaces(workspaceOptions());
    const ws = await workspaces.open({
      jobId: 'job-s',
      claimEpoch: 5,
      repository: { url: repo.dir, defaultBranch: 'main' },
      branch: 'jobfleet/task-s',
    });
    writeFiles(ws.dir, { 'committed.txt': 'c\n' });
    gitIn(ws.dir, 'add', '-A');
    gitIn(ws.dir, 'commit', '-q', '-m', 'agent: part one');
    writeFiles(ws.dir, { 'uncommitted.txt': 'u\n', 'README.md': null });

    const { record, bundle } = await ws.salvage('cancelled');
    await ws.remove();
    await workspaces.close();

    const branch = 'jobfleet/salvage/job-s-5';
    const head = tipOf(repo.dir, branch);
    expect(bundle).toBeNull();
    expect(record).toEqual({ branch, base_sha: ws.baseSha, head_sha: head, pushed: true, ...numstat(repo.dir, ws.baseSha, head) });
    expect(record?.changed_files).toEqual(['README.md', 'committed.txt', 'uncommitted.txt']);
    expect(showFiles(repo.dir, branch)).toEqual({ 'committed.txt': 'c\n', 'uncommitted.txt': 'u\n' });
    expect(commitInfo(repo.dir, branch).subject).toBe('jobfleet: work salvaged from job job-s (cancelled)');
    // The job's own branch is not touched by a salvage.
    expect(branchesOf(repo.dir)).toEqual([branch, 'main']);
  });

  it('nothing to salvage: no branch, no record', async () => {
    const repo = makeBareRepo();
    const workspaces = await openWorkspaces(workspaceOptions());
    const ws = await workspaces.open({
      jobId: 'job-n',
      claimEpoch: 1,
      repository: { url: repo.dir, defaultBranch: 'main' },
      branch: 'jobfleet/task-n',
    });
    expect(await ws.salvage('timeout')).toEqual({ record: null, bundle: null });
    await ws.remove();
    expect(await ws.salvage('after removal')).toEqual({ record: null, bundle: null });
    await workspaces.close();
    expect(branchesOf(repo.dir)).toEqual(['main']);
  });

  it('an index left locked by a killed agent does not stop the salvage', async () => {
    const repo = makeBareRepo();
    const workspaces = await openWorkspaces(workspaceOptions());
    const ws = await workspaces.open({
      jobId: 'job-l',
      claimEpoch: 1,
      repository: { url: repo.dir, defaultBranch: 'main' },
      branch: 'jobfleet/task-l',
    });
    writeFiles(ws.dir, { 'half.txt': 'written before the kill\n' });
    writeFileSync(path.resolve(ws.dir, gitIn(ws.dir, 'rev-parse', '--git-path', 'index.lock')), '');

    const { record } = await ws.salvage('worker_lost');
    await ws.remove();
    await workspaces.close();
    expect(record?.changed_files).toEqual(['half.txt']);
    expect(showFiles(repo.dir, 'jobfleet/salvage/job-l-1')['half.txt']).toBe('written before the kill\n');
  });

  it('a refused salvage push writes a bundle git accepts; history unrelated to base is bundled whole', async () => {
    const repo = makeBareRepo();
    installHook(repo.dir, 'pre-receive', 'exit 1');
    const options = workspaceOptions();
    const workspaces = await openWorkspaces(options);
    const ws = await workspaces.open({
      jobId: 'job-o',
      claimEpoch: 3,
      repository: { url: repo.dir, defaultBranch: 'main' },
      branch: 'jobfleet/task-o',
    });
    // An agent that threw the history away and started over.
    gitIn(ws.dir, 'checkout', '-q', '--orphan', 'fresh-start');
    gitIn(ws.dir, 'rm', '-q', '-rf', '.');
    writeFiles(ws.dir, { 'new-world.txt': 'from scratch\n' });

    const { record, bundle } = await ws.salvage('agent_failed');
    await ws.remove();
    await workspaces.close();

    expect(bundle).toBe(path.join(options.root, 'unpushed', 'job-o-3.bundle'));
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
    const workspaces = await openWorkspaces(workspaceOptions({ root: path.join(enclosing, 'workspaces') }));
    const ws = await workspaces.open({
      jobId: 'job-g',
      claimEpoch: 1,
      repository: { url: repo.dir, defaultBranch: 'main' },
      branch: 'jobfleet/task-g',
    });
    writeFiles(ws.dir, { 'stray.txt': 'x\n' });
    rmSync(path.join(ws.dir, '.git'));

    expect(await ws.salvage('worker_lost')).toEqual({ record: null, bundle: null });
    await expect(ws.publish()).rejects.toMatchObject({ code: 'workspace_failed' });
    await ws.remove();
    await workspaces.close();
    expect(() => gitIn(enclosing, 'rev-parse', '--verify', 'HEAD')).toThrow();
    expect(gitIn(enclosing, 'status', '--porcelain')).toBe('?? workspaces/');
    expect(branchesOf(repo.dir)).toEqual(['main']);
  });
});
