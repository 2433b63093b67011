/**
 * A repository the agent clones or makes inside its workspace, with commits of its own: `git add`
 * stages it as a bare pointer (a gitlink), so a push would "succeed" without its files. Such work
 * is not saved: publish refuses naming it, a salvage says it is incomplete, and the workspace (the
 * nested repository with its commits and uncommitted edits) is kept for the next worker start.
 * A submodule the repository declares is no such thing.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WorkspaceError } from '../../src/workspaces/index.js';
import { branchesOf, gitIn, makeBareRepo, removeTempDirs, writeFiles } from '../helpers/git-repos.js';
import { openOne } from '../helpers/workspace-options.js';

afterAll(removeTempDirs);

/** What an agent that clones a library into vendor/lib and patches it leaves behind. */
function nestedRepositoryWithCommits(dir: string): void {
  const lib = path.join(dir, 'vendor', 'lib');
  writeFiles(lib, { 'a.txt': 'v1\n' });
  gitIn(lib, 'init', '-q');
  gitIn(lib, 'add', 'a.txt');
  gitIn(lib, 'commit', '-q', '-m', 'nested');
  writeFiles(lib, { 'patch.txt': 'agent patch\n' });
  writeFiles(dir, { 'top.txt': 'top\n' });
}

function expectNestedKept(dir: string): void {
  expect(readFileSync(path.join(dir, 'vendor', 'lib', 'patch.txt'), 'utf8')).toBe('agent patch\n');
  expect(readFileSync(path.join(dir, 'vendor', 'lib', 'a.txt'), 'utf8')).toBe('v1\n');
  expect(existsSync(`${dir}.json`)).toBe(true);
}

describe('a nested repository with commits', () => {
  it('publish fails naming it and pushes nothing; the workspace is kept', async () => {
    const repo = makeBareRepo();
    const { ws, done, options } = await openOne(repo.dir, 'job-nested');
    nestedRepositoryWithCommits(ws.dir);

    const error = await ws.publish().catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(WorkspaceError);
    expect(error).toMatchObject({ code: 'workspace_failed', message: expect.stringContaining('"vendor/lib"') });
    expect(branchesOf(repo.dir)).toEqual(['main']);

    await done();
    expectNestedKept(ws.dir);
    expect(options.lines.join('\n')).toContain('kept for the next worker start');
  });

  it('a salvage saves the rest but is incomplete, and the workspace is kept', async () => {
    const repo = makeBareRepo();
    const { ws, done } = await openOne(repo.dir, 'job-nested-salvage', 3);
    nestedRepositoryWithCommits(ws.dir);

    const salvaged = await ws.salvage('cancelled');
    expect(salvaged.complete).toBe(false);
    expect(salvaged.record).toMatchObject({ branch: 'jobfleet/salvage/job-nested-salvage-3', pushed: true });
    expect(gitIn(repo.dir, 'show', 'jobfleet/salvage/job-nested-salvage-3:top.txt')).toBe('top');

    await done();
    expectNestedKept(ws.dir);
  });

  it('a nested repository the agent committed itself is caught too', async () => {
    const repo = makeBareRepo();
    const { ws, done } = await openOne(repo.dir, 'job-nested-committed');
    nestedRepositoryWithCommits(ws.dir);
    gitIn(ws.dir, 'add', '-A');
    gitIn(ws.dir, 'commit', '-q', '-m', 'agent commits the clone');

    await expect(ws.publish()).rejects.toMatchObject({ code: 'workspace_failed', message: expect.stringContaining('"vendor/lib"') });
    expect(branchesOf(repo.dir)).toEqual(['main']);
    await done();
    expectNestedKept(ws.dir);
  });

  it('a submodule declared in .gitmodules publishes', async () => {
    const repo = makeBareRepo();
    const { ws, done } = await openOne(repo.dir, 'job-submodule');
    nestedRepositoryWithCommits(ws.dir);
    writeFiles(ws.dir, { '.gitmodules': '[submodule "lib"]\n\tpath = vendor/lib\n\turl = https://example.test/lib.git\n' });

    const record = await ws.publish();
    expect(record).toMatchObject({ pushed: true, changed_files: ['.gitmodules', 'top.txt', 'vendor/lib'] });
    await done();
    expect(existsSync(ws.dir)).toBe(false);
  });
});
