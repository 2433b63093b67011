/** Two workspaces of one worker at once: separate files, and one branch held by one at a time. */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openWorkspaces, WorkspaceAbortedError } from '../../src/workspaces/index.js';
import { makeBareRepo, removeTempDirs, showFiles, tempDir, writeFiles } from '../helpers/git-repos.js';
import { waitFor } from '../helpers/wait-for.js';
import { workspaceOptions } from '../helpers/workspace-options.js';

afterAll(removeTempDirs);

describe('workspaces of one worker', () => {
  it('two open at once on different branches do not see each other, and each branch gets only its own change', async () => {
    const repo = makeBareRepo();
    const workspaces = await openWorkspaces(workspaceOptions());
    const repository = { url: repo.dir, defaultBranch: 'main' };
    const [a, b] = await Promise.all([
      workspaces.open({ jobId: 'job-a', claimEpoch: 1, repository, branch: 'jobfleet/task-a' }),
      workspaces.open({ jobId: 'job-b', claimEpoch: 1, repository, branch: 'jobfleet/task-b' }),
    ]);
    expect(a.dir).not.toBe(b.dir);
    writeFiles(a.dir, { 'from-a.txt': 'a\n' });
    writeFiles(b.dir, { 'from-b.txt': 'b\n' });
    expect(existsSync(path.join(a.dir, 'from-b.txt'))).toBe(false);
    expect(existsSync(path.join(b.dir, 'from-a.txt'))).toBe(false);

    const [recordA, recordB] = await Promise.all([a.publish(), b.publish()]);
    await Promise.all([a.remove(), b.remove()]);
    await workspaces.close();

    expect(recordA.changed_files).toEqual(['from-a.txt']);
    expect(recordB.changed_files).toEqual(['from-b.txt']);
    expect(Object.keys(showFiles(repo.dir, 'jobfleet/task-a')).sort()).toEqual(['README.md', 'from-a.txt']);
    expect(Object.keys(showFiles(repo.dir, 'jobfleet/task-b')).sort()).toEqual(['README.md', 'from-b.txt']);
  });

  it('the same branch twice: the second open waits for the first to be removed, then starts from what it pushed', async () => {
    const repo = makeBareRepo();
    const workspaces = await openWorkspaces(workspaceOptions());
    const repository = { url: repo.dir, defaultBranch: 'main' };
    const first = await workspaces.open({ jobId: 'job-1', claimEpoch: 1, repository, branch: 'jobfleet/task-x' });
    let secondOpened = false;
    const second = workspaces.open({ jobId: 'job-2', claimEpoch: 1, repository, branch: 'jobfleet/task-x' }).then((ws) => {
      secondOpened = true;
      return ws;
    });
    // A different branch is not held up meanwhile: by the time it is open, the second has had every chance to run.
    const other = await workspaces.open({ jobId: 'job-3', claimEpoch: 1, repository, branch: 'jobfleet/task-y' });
    expect(secondOpened).toBe(false);
    expect(readdirSync(path.dirname(first.dir)).filter((name) => !name.endsWith('.json'))).not.toContain('job-2-1');

    writeFiles(first.dir, { 'first.txt': '1\n' });
    const pushed = await first.publish();
    expect(secondOpened).toBe(false);
    await first.remove();
    const next = await second;
    expect(next.baseSha).toBe(pushed.head_sha);
    expect(existsSync(path.join(next.dir, 'first.txt'))).toBe(true);
    await Promise.all([next.remove(), other.remove()]);
    await workspaces.close();
  });

  it('an open waiting for its branch rejects at once when its signal aborts, leaves nothing, and the branch passes on', async () => {
    const repo = makeBareRepo();
    const workspaces = await openWorkspaces(workspaceOptions());
    const repository = { url: repo.dir, defaultBranch: 'main' };
    const first = await workspaces.open({ jobId: 'job-1', claimEpoch: 1, repository, branch: 'jobfleet/task-z' });
    const controller = new AbortController();
    const waiting = workspaces.open({ jobId: 'job-2', claimEpoch: 1, repository, branch: 'jobfleet/task-z', signal: controller.signal });
    controller.abort(new Error('job cancelled'));

    // Rejected while the first still holds the branch.
    const error = await waiting.catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(WorkspaceAbortedError);
    expect(error).toMatchObject({ name: 'WorkspaceAbortedError', message: expect.stringContaining('job cancelled') });
    // Already aborted: nothing is made, not even for another branch.
    await expect(
      workspaces.open({ jobId: 'job-3', claimEpoch: 1, repository, branch: 'jobfleet/task-other', signal: controller.signal }),
    ).rejects.toThrow(WorkspaceAbortedError);
    expect(readdirSync(path.dirname(first.dir)).sort()).toEqual(['job-1-1', 'job-1-1.json']);

    await first.remove();
    const retried = await workspaces.open({ jobId: 'job-2', claimEpoch: 1, repository, branch: 'jobfleet/task-z' });
    expect(retried.baseSha).toBe(first.baseSha);
    await retried.remove();
    await workspaces.close();
  });

  it("an open waiting for its mirror (another open's fetch hangs) rejects at once when its signal aborts", async () => {
    const options = workspaceOptions({ gitTimeoutMs: 4000 });
    const workspaces = await openWorkspaces(options);
    const dir = tempDir();
    const started = path.join(dir, 'ssh-started');
    const fakeSsh = path.join(dir, 'fake-ssh.sh');
    writeFileSync(fakeSsh, `#!/bin/sh\ntouch '${started}'\nexec sleep 300\n`, { mode: 0o755 });
    const saved = process.env.GIT_SSH_COMMAND;
    process.env.GIT_SSH_COMMAND = fakeSsh;
    try {
      const repository = { url: 'ssh://git.example.test/app.git', defaultBranch: 'main' };
      let fetchingSettled = false;
      const fetching = workspaces.open({ jobId: 'job-f', claimEpoch: 1, repository, branch: 'jobfleet/task-f' }).finally(() => {
        fetchingSettled = true;
      });
      await waitFor('the first fetch to reach ssh', () => existsSync(started));
      const controller = new AbortController();
      const waiting = workspaces.open({ jobId: 'job-w', claimEpoch: 1, repository, branch: 'jobfleet/task-w', signal: controller.signal });
      controller.abort(new Error('job cancelled'));
      await expect(waiting).rejects.toThrow(WorkspaceAbortedError);
      expect(fetchingSettled).toBe(false);
      await expect(fetching).rejects.toMatchObject({ code: 'repository_unreachable' });
    } finally {
      if (saved === undefined) delete process.env.GIT_SSH_COMMAND;
      else process.env.GIT_SSH_COMMAND = saved;
      await workspaces.close();
    }
  });
});
