/**
 * Work git cannot commit is never deleted: a salvage that could not save everything says so
 * (complete: false), and removing that workspace keeps its worktree and metadata for the next
 * worker start, whose orphan salvage tries again.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openWorkspaces, WorkspaceError } from '../../src/workspaces/index.js';
import { currentOwner } from '../../src/workspaces/slot-owner.js';
import { branchesOf, gitIn, installHook, makeBareRepo, removeTempDirs, showFiles, writeFiles } from '../helpers/git-repos.js';
import { openOne, workspaceOptions } from '../helpers/workspace-options.js';

afterAll(removeTempDirs);

/** What an agent that scaffolds a project leaves: a file, and a nested repository without a commit. */
function nestedRepository(dir: string): void {
  writeFiles(dir, { 'important.txt': 'keep me\n', 'scaffold/app.txt': 'inside the nested repository\n' });
  gitIn(dir, 'init', '-q', 'scaffold');
}

/** The slot of a worktree now belongs to a dead process, as after a SIGKILL. */
function ownerDies(worktree: string): string {
  const slot = path.dirname(path.dirname(worktree));
  writeFileSync(path.join(slot, 'owner.json'), JSON.stringify({ ...currentOwner(), pid: spawnSync('true').pid }));
  return slot;
}

function expectKept(worktree: string): void {
  expect(readFileSync(path.join(worktree, 'scaffold', 'app.txt'), 'utf8')).toBe('inside the nested repository\n');
  expect(existsSync(`${worktree}.json`)).toBe(true);
}

describe('work git cannot commit', () => {
  it('a nested repository without commits: the rest is salvaged, the workspace kept, and the next start tries again until it can', async () => {
    const repo = makeBareRepo();
    const repository = { url: repo.dir, defaultBranch: 'main' };
    const options = workspaceOptions();
    const workspaces = await openWorkspaces(options);
    const ws = await workspaces.open({ jobId: 'job-nest', claimEpoch: 2, repository, branch: 'jobfleet/task-nest' });
    nestedRepository(ws.dir);

    const salvaged = await ws.salvage('cancelled');
    expect(salvaged.complete).toBe(false);
    expect(salvaged.record).toMatchObject({ branch: 'jobfleet/salvage/job-nest-2', pushed: true, changed_files: ['important.txt'] });
    expect(showFiles(repo.dir, 'jobfleet/salvage/job-nest-2')['important.txt']).toBe('keep me\n');

    await ws.remove();
    expectKept(ws.dir);
    expect(options.lines.join('\n')).toContain('kept for the next worker start');
    // The branch is not held by the kept workspace: a later job on it opens and publishes.
    const next = await workspaces.open({ jobId: 'job-next', claimEpoch: 1, repository, branch: 'jobfleet/task-nest' });
    writeFiles(next.dir, { 'next.txt': 'n\n' });
    expect((await next.publish()).pushed).toBe(true);
    await next.remove();
    await workspaces.close();
    expectKept(ws.dir);

    // The worker dies; the next start salvages again, still cannot commit the nested repository, keeps it.
    const slot = ownerDies(ws.dir);
    const second = workspaceOptions({ root: options.root });
    await (await openWorkspaces(second)).close();
    expectKept(ws.dir);
    expect(second.lines.join('\n')).toContain('kept for the next worker start');

    // Someone turns the nested repository into plain files: the start after that saves them and removes the slot.
    rmSync(path.join(ws.dir, 'scaffold', '.git'), { recursive: true });
    await (await openWorkspaces(workspaceOptions({ root: options.root }))).close();
    expect(showFiles(repo.dir, 'jobfleet/salvage/job-nest-2')).toEqual({
      'README.md': '# seed\n',
      'important.txt': 'keep me\n',
      'scaffold/app.txt': 'inside the nested repository\n',
    });
    expect(existsSync(slot)).toBe(false);
  });

  it('publish refuses with git words and pushes nothing; the salvage after it saves the rest and keeps the workspace', async () => {
    const repo = makeBareRepo();
    const { ws, done } = await openOne(repo.dir, 'job-pub');
    nestedRepository(ws.dir);

    const error = await ws.publish().catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(WorkspaceError);
    expect(error).toMatchObject({ code: 'workspace_failed', message: expect.stringContaining('does not have a commit checked out') });
    expect(branchesOf(repo.dir)).toEqual(['main']);

    const salvaged = await ws.salvage('workspace_failed');
    expect(salvaged).toMatchObject({ complete: false, record: { changed_files: ['important.txt'], pushed: true } });
    await done();
    expectKept(ws.dir);
  });

  it('a failed publish alone keeps the workspace, even when the caller does not salvage', async () => {
    const repo = makeBareRepo();
    const { ws, done } = await openOne(repo.dir, 'job-bare');
    nestedRepository(ws.dir);
    await expect(ws.publish()).rejects.toMatchObject({ code: 'workspace_failed' });
    await done();
    expectKept(ws.dir);
  });

  it('neither the push nor the bundle works: incomplete, and the workspace is kept', async () => {
    const repo = makeBareRepo();
    installHook(repo.dir, 'pre-receive', 'exit 1');
    const options = workspaceOptions();
    // A file where the bundles' directory would be: no bundle can be written.
    writeFileSync(path.join(options.root, 'unpushed'), '');
    const { ws, done } = await openOne(repo.dir, 'job-stuck', 1, { root: options.root, logger: options.logger });
    writeFiles(ws.dir, { 'work.txt': 'precious\n' });

    const salvaged = await ws.salvage('timeout');
    expect(salvaged).toMatchObject({ complete: false, bundle: null, record: { pushed: false, changed_files: ['work.txt'] } });
    await done();
    expect(readFileSync(path.join(ws.dir, 'work.txt'), 'utf8')).toBe('precious\n');
    expect(existsSync(`${ws.dir}.json`)).toBe(true);
    expect(options.lines.join('\n')).toContain('could be neither pushed nor bundled');
  });
});
