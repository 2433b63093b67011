/**
 * A worker in another pid namespace (a container restarted with the same hostname) cannot be
 * judged by its pid: its Workspaces touches owner.json every heartbeat instead, and a slot whose
 * owner.json missed ten heartbeats is a dead worker's, salvaged at the next start.
 */
import { readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openWorkspaces } from '../../src/workspaces/index.js';
import { branchesOf, makeBareRepo, removeTempDirs, showFiles } from '../helpers/git-repos.js';
import { killAll, spawnFixture } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';
import { workspaceOptions } from '../helpers/workspace-options.js';

afterEach(killAll);
afterAll(removeTempDirs);

/**
 * The slot of a worker that opened a workspace on jobfleet/task-<jobId>, wrote in it and was
 * SIGKILLed, made to look like one of another pid namespace whose owner.json was last touched
 * `ageMs` ago.
 */
async function foreignDeadSlot(root: string, repoUrl: string, jobId: string, ageMs: number): Promise<string> {
  const holder = spawnFixture('workspace-holder.ts', { WORKSPACE_ROOT: root, REPO_URL: repoUrl, JOB_IDS: jobId, CLAIM_EPOCH: '4' });
  await holder.line(/READY (.*)\n/, 60_000);
  holder.kill('SIGKILL');
  await holder.exited;
  const [slot] = readdirSync(path.join(root, 'slots')).map((name) => path.join(root, 'slots', name));
  if (!slot) throw new Error('the holder made no slot');
  const ownerFile = path.join(slot, 'owner.json');
  writeFileSync(ownerFile, JSON.stringify({ ...JSON.parse(readFileSync(ownerFile, 'utf8')), pid_ns: 'pid:[4026530000]' }));
  const touched = new Date(Date.now() - ageMs);
  utimesSync(ownerFile, touched, touched);
  return slot;
}

const slotNames = (root: string) => readdirSync(path.join(root, 'slots'));

describe('the owner heartbeat', () => {
  it('a slot of another pid namespace whose owner.json is older than ten heartbeats is salvaged', async () => {
    const repo = makeBareRepo();
    const options = workspaceOptions();
    const slot = await foreignDeadSlot(options.root, repo.dir, 'job-gone', 11 * 60_000);

    await (await openWorkspaces(options)).close();

    expect(branchesOf(repo.dir)).toEqual(['jobfleet/salvage/job-gone-4', 'main']);
    expect(showFiles(repo.dir, 'jobfleet/salvage/job-gone-4')).toMatchObject({
      'work/committed.txt': 'committed by job-gone\n',
      'work/uncommitted.txt': 'left uncommitted by job-gone\n',
    });
    expect(slotNames(options.root)).not.toContain(path.basename(slot));
    expect(options.lines.join('\n')).toContain('owner.json untouched for too long');
  });

  it('one whose owner.json is fresh is left alone', async () => {
    const repo = makeBareRepo();
    const options = workspaceOptions();
    const slot = await foreignDeadSlot(options.root, repo.dir, 'job-alive', 5 * 60_000);

    await (await openWorkspaces(options)).close();

    expect(branchesOf(repo.dir)).toEqual(['main']);
    expect(slotNames(options.root)).toContain(path.basename(slot));
  });

  it('a live Workspaces keeps its owner.json fresh while its slot exists', async () => {
    const repo = makeBareRepo();
    const options = workspaceOptions({ ownerHeartbeatMs: 50 });
    const workspaces = await openWorkspaces(options);
    const ws = await workspaces.open({
      jobId: 'job-beat',
      claimEpoch: 1,
      repository: { url: repo.dir, defaultBranch: 'main' },
      branch: 'jobfleet/task-job-beat',
    });
    const ownerFile = path.join(path.dirname(path.dirname(ws.dir)), 'owner.json');
    const old = new Date(Date.now() - 60 * 60_000);
    utimesSync(ownerFile, old, old);

    await waitFor('owner.json touched again', () => Date.now() - statSync(ownerFile).mtimeMs < 10_000);

    await ws.remove();
    await workspaces.close();
  });
});
