/**
 * Bad input gets a clear answer (SPEC "Workspaces", errors): a repository that cannot be reached,
 * one without commits, a default branch it lacks, a push it refuses: the job fails with the code
 * that says which and git's own words, and nothing is left half-written. A worker that cannot use
 * its WORKSPACE_ROOT does not start.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnJobfleet } from '../helpers/processes.js';
import { branchesOf, gitIn, installHook, makeBareRepo, tipOf } from '../helpers/git-repos.js';
import { createWorkspaceWorld, type WorkspaceWorld } from '../helpers/workspace-world.js';

let world: WorkspaceWorld;
beforeAll(async () => {
  world = await createWorkspaceWorld({ JOB_MAX_RETRIES: '0' });
  await world.startWorker();
}, 120_000);
afterAll(async () => {
  await world.close();
}, 120_000);

/** Runs a job for a task (whose agent writes a file) of a product with `repository`; answers the finished job. */
async function jobOn(repository: { repository_url: string; default_branch?: string }) {
  const product = await world.product(repository);
  const task = await world.task(product, '[agent:write=work.txt=precious work]');
  const job = await world.job(await world.implement(task));
  return { job, task };
}

describe('a job fails with a code that says what is wrong with the repository', () => {
  it('repository_unreachable when the path is no repository', async () => {
    const missing = path.join(world.dir, 'no-such-repo.git');
    const { job, task } = await jobOn({ repository_url: missing });
    expect(job).toMatchObject({ status: 'failed', error: { code: 'repository_unreachable' } });
    expect(job.error.message).toContain(missing);
    expect(job.error.details.agent_ran).toBe(false);
    expect(world.leftoverWorkspaces()).toEqual([]);
    // No agent ran: the task stays open, and once the product points at a repository a new job does it.
    expect((await world.api.call('GET', `/api/v1/tasks/${task}`)).body.status).toBe('in_progress');
    const { product_id: productOfTask } = await world.db
      .selectFrom('claude_jobs')
      .select('product_id')
      .where('id', '=', job.id)
      .executeTakeFirstOrThrow();
    const fixed = await world.api.call('PATCH', `/api/v1/products/${productOfTask}`, { repository_url: makeBareRepo().dir });
    expect(fixed.status).toBe(200);
    expect(await world.job(await world.implement(task))).toMatchObject({ status: 'done', result: { workspace: { pushed: true } } });
    expect((await world.api.call('GET', `/api/v1/tasks/${task}`)).body.status).toBe('review');
  });

  it('repository_empty when the repository has no commits', async () => {
    const bare = makeBareRepo({ empty: true }).dir;
    const { job } = await jobOn({ repository_url: bare });
    expect(job).toMatchObject({ status: 'failed', error: { code: 'repository_empty' } });
    expect(branchesOf(bare)).toEqual([]);
    expect(world.leftoverWorkspaces()).toEqual([]);
  });

  it('branch_not_found when the default branch is missing, naming it and the branches there are', async () => {
    const bare = makeBareRepo({ branches: ['main', 'release'] }).dir;
    const { job } = await jobOn({ repository_url: bare, default_branch: 'develop' });
    expect(job).toMatchObject({ status: 'failed', error: { code: 'branch_not_found' } });
    expect(job.error.message).toContain('develop');
    expect(job.error.message).toContain('main');
    expect(job.error.message).toContain('release');
    expect(branchesOf(bare)).toEqual(['main', 'release']);
    expect(world.leftoverWorkspaces()).toEqual([]);
  });

  it('push_rejected when the repository refuses the push; refused the salvage too, the work is kept in a bundle', async () => {
    const bare = makeBareRepo().dir;
    const base = tipOf(bare, 'main');
    installHook(bare, 'pre-receive', 'echo "pushes are closed today" >&2; exit 1');
    const { job, task } = await jobOn({ repository_url: bare });
    expect(job).toMatchObject({ status: 'failed', error: { code: 'push_rejected' } });
    // Its agent ran: the task failed with it, as after any failed implementation.
    expect(job.error.details.agent_ran).toBeUndefined();
    expect((await world.api.call('GET', `/api/v1/tasks/${task}`)).body.status).toBe('failed');
    // git's words, and the hook's.
    expect(job.error.message).toContain('pushes are closed today');
    expect(job.error.details.salvage).toMatchObject({ base_sha: base, pushed: false, changed_files: ['work.txt'] });
    expect(branchesOf(bare)).toEqual(['main']);

    const bundle = path.join(world.root, 'unpushed', `${job.id}-${job.claim_epoch}.bundle`);
    expect(existsSync(bundle)).toBe(true);
    // The bundle holds the agent's commit on top of main: a clone of the repository can take it back.
    const clone = mkdtempSync(path.join(world.dir, 'restore-'));
    try {
      gitIn(clone, 'clone', '-q', bare, '.');
      gitIn(clone, 'bundle', 'verify', bundle);
      gitIn(clone, 'fetch', '-q', bundle, 'HEAD');
      expect(gitIn(clone, 'show', 'FETCH_HEAD:work.txt')).toBe('precious work');
      expect(gitIn(clone, 'rev-parse', 'FETCH_HEAD~1')).toBe(base);
    } finally {
      rmSync(clone, { recursive: true, force: true });
    }
    expect(world.leftoverWorkspaces()).toEqual([]);
  });
});

describe('a worker whose WORKSPACE_ROOT cannot be used', () => {
  it('exits non-zero with one line naming WORKSPACE_ROOT when it serves task_implementation', async () => {
    const file = path.join(world.dir, 'a-regular-file');
    writeFileSync(file, 'not a directory\n');
    const root = path.join(file, 'workspaces');
    const refused = spawnJobfleet(['worker', '--kinds', 'task_implementation'], world.workerEnv({ WORKSPACE_ROOT: root }));
    const exit = await refused.exited;
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    const lines = refused.output().trim().split('\n');
    expect(lines, refused.output()).toHaveLength(1);
    expect(lines[0]).toContain('WORKSPACE_ROOT');
    expect(lines[0]).toContain(root);
    expect(lines[0]).toMatch(/ENOTDIR|not a directory/i);

    // A worker that runs no implementation job needs no workspace, and starts.
    const other = spawnJobfleet(['worker', '--kinds', 'idea_grill'], world.workerEnv({ WORKSPACE_ROOT: root }));
    await other.line(/jobfleet worker \S+ running/, 60_000);
    other.kill('SIGTERM');
    expect((await other.exited).code).toBe(0);
  });
});
