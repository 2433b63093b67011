/**
 * Implementation jobs in real repositories (SPEC "Workspaces"): a real worker process runs the
 * git agent (test/fixtures/agents/git-agent.mjs) in a workspace of its own, and what it did is
 * read back with `git` from the bare repository the product names.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { branchesOf, makeBareRepo, numstat, showFiles, tipOf } from '../helpers/git-repos.js';
import { commitsBetween, createWorkspaceWorld, GIT_AUTHOR, type WorkspaceWorld } from '../helpers/workspace-world.js';

let world: WorkspaceWorld;
beforeAll(async () => {
  world = await createWorkspaceWorld();
  await world.startWorker({ concurrency: 2 });
}, 120_000);
afterAll(async () => {
  await world.close();
}, 120_000);

/** A repository whose main holds a README and a three-line source file. */
function productRepo() {
  return makeBareRepo({ files: { 'README.md': 'A product.\n', 'lib.txt': 'one\ntwo\nthree\n' } }).dir;
}

async function historyOf(task: string) {
  const { status, body } = await world.api.call('GET', `/api/v1/tasks/${task}/history`);
  expect(status).toBe(200);
  return body.items as { from: string | null; to: string; trigger: string; artifacts: any }[];
}

describe('a standalone task job on a product with a repository', () => {
  it('works on jobfleet/task-<task> from main, pushes the commits the agent made, and records what git says', async () => {
    const bare = productRepo();
    const base = tipOf(bare, 'main');
    const product = await world.product({ repository_url: bare, default_branch: 'main' });
    const report = world.reportFile();
    const task = await world.task(
      product,
      report.marker,
      '[agent:write=src/feature.txt=alpha\\nbeta]',
      '[agent:append=README.md=More about it.]',
      '[agent:delete=lib.txt]',
      '[agent:commit=agent: add the feature]',
    );
    const jobId = await world.implement(task);
    const job = await world.job(jobId);
    expect(job.status, JSON.stringify(job.error)).toBe('done');

    const branch = `jobfleet/task-${task}`;
    const head = tipOf(bare, branch);
    expect(branchesOf(bare)).toEqual([branch, 'main'].sort());
    expect(tipOf(bare, 'main')).toBe(base);
    expect(job.result.workspace).toEqual({
      branch,
      base_sha: base,
      head_sha: head,
      ...numstat(bare, base, head),
      pushed: true,
    });
    expect(job.result.workspace).toMatchObject({ changed_files: ['README.md', 'lib.txt', 'src/feature.txt'], insertions: 3, deletions: 3 });
    // The agent committed everything itself: jobfleet added no commit of its own.
    expect(commitsBetween(bare, base, head)).toEqual([{ subject: 'agent: add the feature', author: 'git-agent' }]);
    expect(showFiles(bare, branch)).toEqual({ 'README.md': 'A product.\nMore about it.\n', 'src/feature.txt': 'alpha\nbeta\n' });

    // The agent ran in the workspace, and was told so.
    const [seen] = report.read();
    expect(seen).toMatchObject({ JOBFLEET_BRANCH: branch, JOBFLEET_BASE_SHA: base, JOBFLEET_JOB_ID: jobId });
    expect(seen?.cwd).toBe(seen?.JOBFLEET_WORKSPACE);
    expect(path.relative(world.root, seen?.cwd ?? '')).toMatch(new RegExp(`^slots/[^/]+/jobs/${jobId}-1$`));
    expect(seen?.files).toEqual(['README.md', 'lib.txt']);
    expect(seen?.prompt).toContain(branch);
    // Removed after the push; the mirror (the worker's cache of the repository) stays.
    expect(existsSync(seen?.cwd ?? '/')).toBe(false);
    expect(world.leftoverWorkspaces()).toEqual([]);
    const slot = path.dirname(path.dirname(seen?.cwd ?? ''));
    expect(existsSync(path.join(slot, 'owner.json'))).toBe(true);
    const mirror = `${createHash('sha256').update(bare).digest('hex').slice(0, 16)}.git`;
    expect(readdirSync(path.join(slot, 'mirrors'))).toContain(mirror);

    // The task waits in review (no check command), its history holding the workspace record.
    expect((await world.api.call('GET', `/api/v1/tasks/${task}`)).body.status).toBe('review');
    const done = (await historyOf(task)).find((entry) => entry.trigger === 'implementation_done');
    expect(done?.artifacts).toEqual({ job_id: jobId, workspace: job.result.workspace });
  });

  it('commits what the agent left uncommitted as WORKSPACE_GIT_AUTHOR and pushes it', async () => {
    const bare = productRepo();
    const base = tipOf(bare, 'main');
    const product = await world.product({ repository_url: bare });
    const task = await world.task(product, '[agent:write=notes/todo.md=first\\nsecond]', '[agent:append=lib.txt=four]');
    const jobId = await world.implement(task);
    const job = await world.job(jobId);
    expect(job.status, JSON.stringify(job.error)).toBe('done');

    const branch = `jobfleet/task-${task}`;
    const head = tipOf(bare, branch);
    expect(job.result.workspace).toEqual({ branch, base_sha: base, head_sha: head, ...numstat(bare, base, head), pushed: true });
    expect(job.result.workspace).toMatchObject({ changed_files: ['lib.txt', 'notes/todo.md'], insertions: 3, deletions: 0 });
    expect(commitsBetween(bare, base, head)).toEqual([
      { subject: `jobfleet: work left uncommitted by job ${jobId}`, author: GIT_AUTHOR.name },
    ]);
    expect(showFiles(bare, branch)).toEqual({
      'README.md': 'A product.\n',
      'lib.txt': 'one\ntwo\nthree\nfour\n',
      'notes/todo.md': 'first\nsecond\n',
    });
    expect(world.leftoverWorkspaces()).toEqual([]);
  });

  it('pushes nothing and makes no branch when the agent changes nothing', async () => {
    const bare = productRepo();
    const base = tipOf(bare, 'main');
    const product = await world.product({ repository_url: bare });
    const report = world.reportFile();
    const task = await world.task(product, report.marker);
    const job = await world.job(await world.implement(task));
    expect(job.status, JSON.stringify(job.error)).toBe('done');
    expect(job.result.workspace).toEqual({
      branch: `jobfleet/task-${task}`,
      base_sha: base,
      head_sha: base,
      changed_files: [],
      insertions: 0,
      deletions: 0,
      pushed: false,
    });
    expect(branchesOf(bare)).toEqual(['main']);
    expect(report.read()).toHaveLength(1);
    expect(world.leftoverWorkspaces()).toEqual([]);
  });
});

describe('two jobs at once on one worker', () => {
  it('each works in its own workspace, neither sees the other, and each branch holds only its own change', async () => {
    const bare = productRepo();
    const base = tipOf(bare, 'main');
    const product = await world.product({ repository_url: bare });
    const jobs = [];
    for (const name of ['left', 'right']) {
      const gate = world.gate();
      const report = world.reportFile();
      const task = await world.task(product, `[agent:write=${name}.txt=${name} side]`, gate.marker, report.marker);
      jobs.push({ name, gate, report, task, id: await world.implement(task) });
    }
    // Both agents have written their file and wait: both workspaces are open at the same time.
    await Promise.all(jobs.map((job) => job.gate.reached()));
    for (const job of jobs) job.gate.open();

    for (const job of jobs) {
      const done = await world.job(job.id);
      expect(done.status, JSON.stringify(done.error)).toBe('done');
      const [seen] = job.report.read();
      expect(seen?.files).toEqual(['README.md', `${job.name}.txt`, 'lib.txt'].sort());
      const branch = `jobfleet/task-${job.task}`;
      expect(Object.keys(showFiles(bare, branch)).sort()).toEqual(['README.md', `${job.name}.txt`, 'lib.txt'].sort());
      expect(numstat(bare, base, tipOf(bare, branch))).toEqual({ changed_files: [`${job.name}.txt`], insertions: 1, deletions: 0 });
      expect(done.result.workspace).toMatchObject({ branch, base_sha: base, changed_files: [`${job.name}.txt`], pushed: true });
    }
    const [left, right] = jobs.map((job) => job.report.read()[0]?.cwd);
    expect(left).not.toBe(right);
    expect(world.leftoverWorkspaces()).toEqual([]);
  });
});

describe('a product without a repository', () => {
  it("runs its job as before: in the worker's directory, with no workspace in the result", async () => {
    const product = await world.product({});
    const report = world.reportFile();
    const task = await world.task(product, report.marker);
    const job = await world.job(await world.implement(task));
    expect(job.status, JSON.stringify(job.error)).toBe('done');
    expect(job.result).not.toHaveProperty('workspace');
    const [seen] = report.read();
    expect(seen).toMatchObject({ JOBFLEET_WORKSPACE: null, JOBFLEET_BRANCH: null, JOBFLEET_BASE_SHA: null });
    // The worker was started in the project's root (test/helpers/processes.ts).
    expect(seen?.cwd).toBe(path.resolve(import.meta.dirname, '..', '..'));
    expect((await world.api.call('GET', `/api/v1/tasks/${task}`)).body.status).toBe('review');
  });
});
