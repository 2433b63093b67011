/**
 * Bad repositories and refused pushes fail the job with a code that says which, and git's own
 * words; a failed open leaves nothing behind, a refused push leaves the work on the salvage branch.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openWorkspaces, WorkspaceError, type Workspaces } from '../../src/workspaces/index.js';
import {
  branchesOf,
  gitIn,
  installHook,
  makeBareRepo,
  removeTempDirs,
  showFiles,
  tempDir,
  tipOf,
  writeFiles,
} from '../helpers/git-repos.js';
import { isAlive } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';
import { openOne, workspaceOptions } from '../helpers/workspace-options.js';

afterAll(removeTempDirs);

async function failedOpen(workspaces: Workspaces, url: string, defaultBranch = 'main'): Promise<WorkspaceError> {
  const error = await workspaces
    .open({ jobId: 'job-bad', claimEpoch: 1, repository: { url, defaultBranch }, branch: 'jobfleet/task-bad' })
    .then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
  expect(error).toBeInstanceOf(WorkspaceError);
  return error as WorkspaceError;
}

/** No worktree, no metadata and no mirror left in any slot under the root. */
function expectNothingLeft(root: string): void {
  const slots = existsSync(path.join(root, 'slots')) ? readdirSync(path.join(root, 'slots')) : [];
  for (const slot of slots) {
    expect(readdirSync(path.join(root, 'slots', slot, 'jobs'))).toEqual([]);
    expect(readdirSync(path.join(root, 'slots', slot, 'mirrors'))).toEqual([]);
  }
}

describe('a repository that cannot be used', () => {
  it('a path that does not exist: repository_unreachable with git words, nothing left', async () => {
    const options = workspaceOptions();
    const workspaces = await openWorkspaces(options);
    const missing = path.join(tempDir(), 'no-such-repo.git');
    const error = await failedOpen(workspaces, missing);
    expect(error.code).toBe('repository_unreachable');
    expect(error.message).toContain(`'${missing}' does not appear to be a git repository`);
    expectNothingLeft(options.root);
    await workspaces.close();
    expect(readdirSync(path.join(options.root, 'slots'))).toEqual([]);
  });

  it('a directory that is not a repository: repository_unreachable', async () => {
    const options = workspaceOptions();
    const workspaces = await openWorkspaces(options);
    const plain = tempDir();
    writeFileSync(path.join(plain, 'file.txt'), 'not a repo\n');
    const error = await failedOpen(workspaces, plain);
    expect(error.code).toBe('repository_unreachable');
    expect(error.message).toMatch(/not appear to be a git repository|not a git repository/);
    expectNothingLeft(options.root);
    await workspaces.close();
  });

  it('a repository without commits: repository_empty', async () => {
    const options = workspaceOptions();
    const workspaces = await openWorkspaces(options);
    const repo = makeBareRepo({ empty: true });
    const error = await failedOpen(workspaces, repo.dir);
    expect(error.code).toBe('repository_empty');
    expect(error.message).toContain(repo.dir);
    expectNothingLeft(options.root);
    await workspaces.close();
  });

  it('a default branch the repository lacks: branch_not_found, naming it and listing the branches there are', async () => {
    const options = workspaceOptions();
    const workspaces = await openWorkspaces(options);
    const repo = makeBareRepo({ branches: ['trunk', 'release/1.0', 'dev'] });
    const error = await failedOpen(workspaces, repo.dir, 'main');
    expect(error.code).toBe('branch_not_found');
    expect(error.message).toContain('main');
    expect(error.message).toContain('dev, release/1.0, trunk');
    expect(error.details).toEqual({ default_branch: 'main', branches: ['dev', 'release/1.0', 'trunk'] });
    expectNothingLeft(options.root);

    // The same workspaces still work for a good repository afterwards.
    const good = makeBareRepo();
    const ws = await workspaces.open({
      jobId: 'job-ok',
      claimEpoch: 1,
      repository: { url: good.dir, defaultBranch: 'main' },
      branch: 'jobfleet/task-bad',
    });
    await ws.remove();
    await workspaces.close();
  });

  it('lists at most 10 branches', async () => {
    const workspaces = await openWorkspaces(workspaceOptions());
    const names = Array.from({ length: 12 }, (_, i) => `b${String(i).padStart(2, '0')}`);
    const repo = makeBareRepo({ branches: names });
    const error = await failedOpen(workspaces, repo.dir, 'main');
    expect(error.details.branches).toEqual(names.slice(0, 10));
    expect(error.message).toContain('(12 in all)');
    await workspaces.close();
  });

  it('a fetch that hangs past GIT_TIMEOUT_MS is killed with what it started: repository_unreachable', async () => {
    const options = workspaceOptions({ gitTimeoutMs: 1500 });
    const workspaces = await openWorkspaces(options);
    const dir = tempDir();
    const pidFile = path.join(dir, 'ssh.pid');
    const fakeSsh = path.join(dir, 'fake-ssh.sh');
    writeFileSync(fakeSsh, `#!/bin/sh\necho $$ > '${pidFile}'\nexec sleep 300\n`, { mode: 0o755 });
    const saved = process.env.GIT_SSH_COMMAND;
    process.env.GIT_SSH_COMMAND = fakeSsh;
    try {
      const error = await failedOpen(workspaces, 'ssh://git.example.test/app.git');
      expect(error.code).toBe('repository_unreachable');
      expect(error.message).toContain('ran longer than GIT_TIMEOUT_MS (1500 ms)');
      const sshPid = Number(readFileSync(pidFile, 'utf8'));
      await waitFor('the hanging ssh to be gone', () => !isAlive(sshPid), { timeoutMs: 10_000 });
      expectNothingLeft(options.root);
    } finally {
      if (saved === undefined) delete process.env.GIT_SSH_COMMAND;
      else process.env.GIT_SSH_COMMAND = saved;
      await workspaces.close();
    }
  });

  it('an invalid branch name is refused before anything is made', async () => {
    const options = workspaceOptions();
    const workspaces = await openWorkspaces(options);
    const repo = makeBareRepo();
    const error = await workspaces
      .open({ jobId: 'job-x', claimEpoch: 1, repository: { url: repo.dir, defaultBranch: 'main' }, branch: 'bad..name' })
      .catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(WorkspaceError);
    expect((error as WorkspaceError).code).toBe('workspace_failed');
    expectNothingLeft(options.root);
    await workspaces.close();
  });
});

describe('a push that is refused', () => {
  it('someone pushed to the branch meanwhile (non-fast-forward): push_rejected, the work on the salvage branch', async () => {
    const repo = makeBareRepo();
    const { ws, done } = await openOne(repo.dir, 'job-nff', 4);
    const theirs = repo.commit(ws.branch, { 'theirs.txt': 'someone else\n' });
    writeFiles(ws.dir, { 'ours.txt': 'the agent\n' });

    const error = (await ws.publish().catch((thrown: unknown) => thrown)) as WorkspaceError;
    await done();

    expect(error).toBeInstanceOf(WorkspaceError);
    expect(error.code).toBe('push_rejected');
    expect(error.message).toMatch(/\[rejected\].*(fetch first|non-fast-forward)/);
    expect(tipOf(repo.dir, ws.branch)).toBe(theirs);
    const salvage = error.details.salvage as Record<string, unknown>;
    expect(salvage).toMatchObject({
      branch: 'jobfleet/salvage/job-nff-4',
      base_sha: ws.baseSha,
      head_sha: tipOf(repo.dir, 'jobfleet/salvage/job-nff-4'),
      changed_files: ['ours.txt'],
      pushed: true,
    });
    expect(error.details.bundle).toBeNull();
    expect(showFiles(repo.dir, 'jobfleet/salvage/job-nff-4')['ours.txt']).toBe('the agent\n');
  });

  it('a pre-receive hook that refuses everything: push_rejected with the hook words, the work in a bundle', async () => {
    const repo = makeBareRepo();
    installHook(repo.dir, 'pre-receive', 'echo "pushes are frozen today" >&2; exit 1');
    const { ws, done, options } = await openOne(repo.dir, 'job-hook', 2);
    writeFiles(ws.dir, { 'work.txt': 'precious\n' });

    const error = (await ws.publish().catch((thrown: unknown) => thrown)) as WorkspaceError;
    await done();

    expect(error.code).toBe('push_rejected');
    expect(error.message).toContain('pushes are frozen today');
    expect(error.message).toContain('pre-receive hook declined');
    expect(branchesOf(repo.dir)).toEqual(['main']);
    const bundle = path.join(options.root, 'unpushed', 'job-hook-2.bundle');
    expect(error.details.bundle).toBe(bundle);
    expect(error.details.salvage).toMatchObject({ branch: 'jobfleet/salvage/job-hook-2', pushed: false, changed_files: ['work.txt'] });
    // The bundle holds the work: git accepts it, and the commit in it has the file.
    expect(() => gitIn(repo.dir, 'bundle', 'verify', bundle)).not.toThrow();
    gitIn(repo.dir, 'fetch', '--quiet', bundle, 'HEAD:refs/heads/recovered');
    expect(showFiles(repo.dir, 'recovered')['work.txt']).toBe('precious\n');
    expect(options.lines.join('\n')).toContain(bundle);
  });
});
