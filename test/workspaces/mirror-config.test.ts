/**
 * The worktrees of a mirror share its config, so an agent can rewrite it from its workspace. None
 * of that reaches jobfleet's own git: no agent command runs as an fsmonitor, and pushes and
 * fetches go to the product's repository, wherever the agent pointed the remote.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openWorkspaces } from '../../src/workspaces/index.js';
import { branchesOf, gitIn, makeBareRepo, removeTempDirs, showFiles, tempDir, tipOf, writeFiles } from '../helpers/git-repos.js';
import { openOne, workspaceOptions } from '../helpers/workspace-options.js';

afterAll(removeTempDirs);

/** A command that leaves a file behind when git runs it (git appends arguments: `; true` takes them). */
function tripwire(): { command: string; ran: () => boolean } {
  const file = path.join(tempDir(), 'fsmonitor-ran');
  return { command: `touch '${file}'; true`, ran: () => existsSync(file) };
}

describe("the mirror's config is jobfleet's", () => {
  it('publish runs no fsmonitor the agent configured, and pushes to the repository, not to the pushurl it set', async () => {
    const repo = makeBareRepo();
    const elsewhere = makeBareRepo();
    const { ws, done } = await openOne(repo.dir, 'job-cfg');
    const fsmonitor = tripwire();
    gitIn(ws.dir, 'config', 'core.fsmonitor', fsmonitor.command);
    gitIn(ws.dir, 'config', 'remote.origin.pushurl', elsewhere.dir);
    writeFiles(ws.dir, { 'work.txt': 'the agent\n' });

    const record = await ws.publish();
    await done();

    expect(fsmonitor.ran()).toBe(false);
    expect(branchesOf(elsewhere.dir)).toEqual(['main']);
    expect(tipOf(repo.dir, ws.branch)).toBe(record.head_sha);
    expect(showFiles(repo.dir, ws.branch)['work.txt']).toBe('the agent\n');
  });

  it('salvage ignores a per-worktree config the agent enabled (extensions.worktreeConfig) to redirect pushes', async () => {
    const repo = makeBareRepo();
    const elsewhere = makeBareRepo();
    const { ws, done } = await openOne(repo.dir, 'job-wtc', 3);
    gitIn(ws.dir, 'config', 'extensions.worktreeConfig', 'true');
    gitIn(ws.dir, 'config', '--worktree', `url.${elsewhere.dir}.pushInsteadOf`, repo.dir);
    writeFiles(ws.dir, { 'half.txt': 'half done\n' });

    const { record, complete } = await ws.salvage('cancelled');
    await done();

    expect(complete).toBe(true);
    expect(record).toMatchObject({ branch: 'jobfleet/salvage/job-wtc-3', pushed: true });
    expect(branchesOf(elsewhere.dir)).toEqual(['main']);
    expect(showFiles(repo.dir, 'jobfleet/salvage/job-wtc-3')['half.txt']).toBe('half done\n');
  });

  it('the next open fetches from the repository whatever an earlier agent set, and the config is whole again', async () => {
    const repo = makeBareRepo();
    const elsewhere = makeBareRepo({ files: { 'planted.txt': 'not the product\n' } });
    const author = { name: 'Fleet "Bot" \\ #1; ok', email: 'fleet@example.test' };
    const options = workspaceOptions({ gitAuthor: author });
    const workspaces = await openWorkspaces(options);
    const repository = { url: repo.dir, defaultBranch: 'main' };
    const first = await workspaces.open({ jobId: 'job-1', claimEpoch: 1, repository, branch: 'jobfleet/task-1' });
    const fsmonitor = tripwire();
    gitIn(first.dir, 'config', 'remote.origin.url', elsewhere.dir);
    gitIn(first.dir, 'config', 'core.fsmonitor', fsmonitor.command);
    gitIn(first.dir, 'config', 'core.sshCommand', fsmonitor.command);
    await first.remove();

    const second = await workspaces.open({ jobId: 'job-2', claimEpoch: 1, repository, branch: 'jobfleet/task-2' });
    expect(second.baseSha).toBe(tipOf(repo.dir, 'main'));
    expect(readdirSync(second.dir)).not.toContain('planted.txt');
    const [slot] = readdirSync(path.join(options.root, 'slots'));
    const mirror = path.join(options.root, 'slots', slot!, 'mirrors', readdirSync(path.join(options.root, 'slots', slot!, 'mirrors'))[0]!);
    expect(gitIn(mirror, 'config', '--file', 'config', '--list').split('\n')).toEqual([
      'core.repositoryformatversion=0',
      'core.filemode=true',
      'core.bare=true',
      `remote.origin.url=${repo.dir}`,
      'remote.origin.fetch=+refs/heads/*:refs/remotes/origin/*',
      `user.name=${author.name}`,
      `user.email=${author.email}`,
    ]);
    await second.remove();
    await workspaces.close();
    expect(fsmonitor.ran()).toBe(false);
  });
});
