/**
 * A worker killed with SIGKILL leaves its workspaces behind; the next start on the host pushes
 * their work to the salvage branches, removes them and adopts the mirror.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openWorkspaces, WorkspaceRootError } from '../../src/workspaces/index.js';
import { currentOwner } from '../../src/workspaces/slot-owner.js';
import { branchesOf, commitInfo, gitIn, makeBareRepo, removeTempDirs, showFiles, tempDir, tipOf } from '../helpers/git-repos.js';
import { killAll, spawnFixture } from '../helpers/processes.js';
import { AUTHOR, workspaceOptions } from '../helpers/workspace-options.js';

afterEach(killAll);
afterAll(removeTempDirs);

interface Held {
  jobId: string;
  dir: string;
  baseSha: string;
}

/** A worker process that opened workspaces for `jobIds`, wrote in them and was SIGKILLed. */
async function killedHolder(root: string, repoUrl: string, jobIds: string[]): Promise<Held[]> {
  const holder = spawnFixture('workspace-holder.ts', {
    WORKSPACE_ROOT: root,
    REPO_URL: repoUrl,
    JOB_IDS: jobIds.join(','),
    CLAIM_EPOCH: '7',
  });
  const [, json] = await holder.line(/READY (.*)\n/, 60_000);
  holder.kill('SIGKILL');
  await holder.exited;
  return (JSON.parse(json!) as { workspaces: Held[] }).workspaces;
}

const slotsOf = (root: string) => readdirSync(path.join(root, 'slots')).map((slot) => path.join(root, 'slots', slot));

function mirrorsIn(slot: string): string[] {
  return readdirSync(path.join(slot, 'mirrors')).map((name) => path.join(slot, 'mirrors', name));
}

/** A slot made by hand, owned by `owner` (a dead or foreign process). */
function fakeSlot(root: string, name: string, owner: object): string {
  const slot = path.join(root, 'slots', name);
  mkdirSync(path.join(slot, 'jobs'), { recursive: true });
  mkdirSync(path.join(slot, 'mirrors'), { recursive: true });
  writeFileSync(path.join(slot, 'owner.json'), JSON.stringify(owner));
  return slot;
}

/** The pid of a process that has exited. */
const deadPid = () => spawnSync('true').pid;

describe('orphaned workspaces', () => {
  it('a SIGKILLed worker: the next start pushes its committed and uncommitted work to the salvage branches, removes the slot and adopts the mirror', async () => {
    const repo = makeBareRepo();
    const options = workspaceOptions();
    const held = await killedHolder(options.root, repo.dir, ['job-a', 'job-b']);
    const [deadSlot] = slotsOf(options.root);
    const [deadMirror] = mirrorsIn(deadSlot!);
    const mirrorInode = statSync(deadMirror!).ino;
    expect(held.every((ws) => existsSync(ws.dir))).toBe(true);

    const workspaces = await openWorkspaces(options);

    for (const { jobId, baseSha } of held) {
      const branch = `jobfleet/salvage/${jobId}-7`;
      expect(showFiles(repo.dir, branch)).toEqual({
        'README.md': '# seed\n',
        'work/committed.txt': `committed by ${jobId}\n`,
        'work/uncommitted.txt': `left uncommitted by ${jobId}\n`,
      });
      expect(commitInfo(repo.dir, branch)).toEqual({
        subject: `jobfleet: work salvaged from job ${jobId} (worker_lost)`,
        author: `${AUTHOR.name} <${AUTHOR.email}>`,
        committer: `${AUTHOR.name} <${AUTHOR.email}>`,
      });
      expect(gitIn(repo.dir, 'log', '--format=%s', `${baseSha}..${branch}`).split('\n')[1]).toBe(`agent of ${jobId}: committed work`);
    }
    expect(branchesOf(repo.dir)).toEqual(['jobfleet/salvage/job-a-7', 'jobfleet/salvage/job-b-7', 'main']);
    expect(existsSync(deadSlot!)).toBe(false);
    expect(held.some((ws) => existsSync(ws.dir))).toBe(false);

    // The mirror moved into this worker's slot, and its next workspace fetches into it.
    const [ownSlot] = slotsOf(options.root);
    const [adopted] = mirrorsIn(ownSlot!);
    expect(path.basename(adopted!)).toBe(path.basename(deadMirror!));
    expect(statSync(adopted!).ino).toBe(mirrorInode);
    expect(gitIn(adopted!, 'worktree', 'list', '--porcelain')).not.toContain('jobs/');
    expect(gitIn(adopted!, 'branch', '--list')).toBe('');
    const ws = await workspaces.open({
      jobId: 'job-c',
      claimEpoch: 1,
      repository: { url: repo.dir, defaultBranch: 'main' },
      branch: 'jobfleet/task-c',
    });
    expect(mirrorsIn(ownSlot!)).toEqual([adopted]);
    expect(ws.baseSha).toBe(tipOf(repo.dir, 'main'));
    await ws.remove();
    await workspaces.close();
  });

  it('two workers starting at once salvage a dead slot once', async () => {
    const repo = makeBareRepo();
    const first = workspaceOptions();
    await killedHolder(first.root, repo.dir, ['job-d']);
    const second = workspaceOptions({ root: first.root });

    const both = await Promise.all([openWorkspaces(first), openWorkspaces(second)]);

    const salvaging = [...first.lines, ...second.lines].filter((line) => line.includes('salvaging the workspaces of a dead worker'));
    expect(salvaging).toHaveLength(1);
    expect(branchesOf(repo.dir)).toEqual(['jobfleet/salvage/job-d-7', 'main']);
    // One of them adopted the mirror; the dead slot is gone.
    const slots = slotsOf(first.root);
    expect(slots).toHaveLength(1);
    expect(mirrorsIn(slots[0]!)).toHaveLength(1);
    await Promise.all(both.map((workspaces) => workspaces.close()));
  });

  it('leaves alone the slots of live workers and of other hosts', async () => {
    const options = workspaceOptions();
    const live = fakeSlot(options.root, 'live', currentOwner());
    const foreign = fakeSlot(options.root, 'foreign', { ...currentOwner(), pid: deadPid(), hostname: `not-${hostname()}` });
    const workspaces = await openWorkspaces(options);
    await workspaces.close();
    expect(existsSync(live)).toBe(true);
    expect(existsSync(foreign)).toBe(true);
  });

  it('leaves alone the slots of another pid namespace, and of an owner.json that does not say its namespace, with one line per start', async () => {
    const repo = makeBareRepo();
    const options = workspaceOptions();
    const held = await killedHolder(options.root, repo.dir, ['job-ns']);
    // Its pid is gone from our namespace, but a worker in another container could have that pid.
    const [container] = slotsOf(options.root);
    const ownerFile = path.join(container!, 'owner.json');
    writeFileSync(ownerFile, JSON.stringify({ ...JSON.parse(readFileSync(ownerFile, 'utf8')), pid_ns: 'pid:[4026530000]' }));
    const { pid_ns: _, ...unmarked } = { ...currentOwner(), pid: deadPid() };
    const older = fakeSlot(options.root, 'older', unmarked);

    const workspaces = await openWorkspaces(options);
    await workspaces.close();

    expect(branchesOf(repo.dir)).toEqual(['main']);
    expect(existsSync(held[0]!.dir)).toBe(true);
    expect(existsSync(older)).toBe(true);
    const notes = options.lines.filter((line) => line.includes('another pid namespace'));
    expect(notes).toHaveLength(1);
    expect(JSON.parse(notes[0]!)).toMatchObject({ level: 30, slots: [container, older].sort() });
  });

  it('judges a reused pid by its start time: same pid, other start ticks is a dead owner', async () => {
    const options = workspaceOptions();
    const me = currentOwner();
    const slot = fakeSlot(options.root, 'reused', { ...me, start_ticks: (me.start_ticks ?? 0) + 1 });
    const workspaces = await openWorkspaces(options);
    await workspaces.close();
    expect(existsSync(slot)).toBe(false);
  });

  it('takes over a salvage lock whose holder died, and skips one a live worker holds', async () => {
    const options = workspaceOptions();
    const dead = { ...currentOwner(), pid: deadPid() };
    const abandoned = fakeSlot(options.root, 'abandoned', dead);
    writeFileSync(path.join(abandoned, 'salvage.lock'), JSON.stringify({ ...dead, nonce: 'x' }));
    const busy = fakeSlot(options.root, 'busy', dead);
    writeFileSync(path.join(busy, 'salvage.lock'), JSON.stringify({ ...currentOwner(), nonce: 'y' }));
    const workspaces = await openWorkspaces(options);
    await workspaces.close();
    expect(existsSync(abandoned)).toBe(false);
    expect(existsSync(busy)).toBe(true);
  });

  it('adopts a dead worker mirror used within the cache age, deletes an older one, and keeps one mirror per URL', async () => {
    const options = workspaceOptions({ cacheMaxAgeDays: 1 });
    const dead = { ...currentOwner(), pid: deadPid() };
    const mirror = (slot: string, name: string, ageDays: number) => {
      const dir = path.join(slot, 'mirrors', name);
      gitIn(slot, 'init', '--quiet', '--bare', dir);
      writeFileSync(path.join(dir, 'jobfleet-last-used'), '');
      const when = new Date(Date.now() - ageDays * 24 * 60 * 60 * 1000);
      utimesSync(path.join(dir, 'jobfleet-last-used'), when, when);
      return dir;
    };
    const one = fakeSlot(options.root, 'dead-one', dead);
    const two = fakeSlot(options.root, 'dead-two', dead);
    mirror(one, 'recent.git', 0.5);
    mirror(one, 'stale.git', 3);
    mirror(two, 'recent.git', 0);

    const workspaces = await openWorkspaces(options);

    const [own] = slotsOf(options.root);
    expect(slotsOf(options.root)).toHaveLength(1);
    expect(mirrorsIn(own!).map((dir) => path.basename(dir))).toEqual(['recent.git']);
    await workspaces.close();
    // Closing leaves the adopted mirror for the next worker.
    expect(existsSync(path.join(own!, 'mirrors', 'recent.git'))).toBe(true);
  });
});

describe('WORKSPACE_ROOT', () => {
  it('a root under a regular file: WorkspaceRootError, one line naming WORKSPACE_ROOT, the path and the OS error', async () => {
    const file = path.join(tempDir(), 'a-file');
    writeFileSync(file, '');
    const root = path.join(file, 'workspaces');
    const error = await openWorkspaces(workspaceOptions({ root })).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(WorkspaceRootError);
    const message = (error as Error).message;
    expect(message).toContain('WORKSPACE_ROOT');
    expect(message).toContain(root);
    expect(message).toContain('ENOTDIR');
    expect(message).not.toContain('\n');
  });

  it('a worker that opens no workspace leaves nothing under the root', async () => {
    const options = workspaceOptions();
    const workspaces = await openWorkspaces(options);
    await workspaces.close();
    expect(readdirSync(options.root)).toEqual([]);
  });
});
