/**
 * Nothing an agent wrote is lost (SPEC "Workspaces"): however a job ends before its agent
 * finishes (cancel, timeout, the agent failing, a worker stopped by SIGTERM or killed by
 * SIGKILL), what the agent wrote is on `jobfleet/salvage/<job>-<epoch>` in the bare repository,
 * and the workspace is gone afterwards. Jobs are not retried here (JOB_MAX_RETRIES=0), so each
 * test sees exactly one run of its agent.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';
import { branchesOf, makeBareRepo, showFiles, tipOf } from '../helpers/git-repos.js';
import { commitsBetween, createWorkspaceWorld, GIT_AUTHOR, type WorkspaceWorld } from '../helpers/workspace-world.js';

let world: WorkspaceWorld;
beforeAll(async () => {
  world = await createWorkspaceWorld({ JOB_MAX_RETRIES: '0' });
}, 120_000);
afterEach(async () => {
  await world.stopWorkers();
  await killAll();
}, 120_000);
afterAll(async () => {
  await world.close();
}, 120_000);

/** A product on a fresh repository, and a task whose agent writes, then waits at a gate nobody opens. */
async function stuckAgent(extraMarkers: string[] = []) {
  const bare = makeBareRepo({ files: { 'README.md': 'A product.\n' } }).dir;
  const base = tipOf(bare, 'main');
  const product = await world.product({ repository_url: bare });
  const gate = world.gate();
  const task = await world.task(
    product,
    '[agent:write=draft.txt=half done]',
    '[agent:append=README.md=Being changed.]',
    ...extraMarkers,
    gate.marker,
  );
  return { bare, base, task, gate };
}

const claimEpoch = async (jobId: string) =>
  (await world.db.selectFrom('claude_jobs').select('claim_epoch').where('id', '=', jobId).executeTakeFirstOrThrow()).claim_epoch;

/** Waits for the salvage branch of the job and checks it holds the agent's work, committed by jobfleet. */
async function expectSalvaged(bare: string, base: string, jobId: string) {
  const branch = `jobfleet/salvage/${jobId}-${await claimEpoch(jobId)}`;
  await waitFor(`${branch} in the repository`, () => branchesOf(bare).includes(branch), { timeoutMs: 60_000 });
  expect(showFiles(bare, branch)).toEqual({ 'README.md': 'A product.\nBeing changed.\n', 'draft.txt': 'half done\n' });
  const commits = commitsBetween(bare, base, branch);
  expect(commits).toHaveLength(1);
  expect(commits[0]?.author).toBe(GIT_AUTHOR.name);
  expect(commits[0]?.subject).toMatch(new RegExp(`^jobfleet: work salvaged from job ${jobId} \\(.+\\)$`));
  // Salvage is no delivery: the task branch is not pushed, main is untouched.
  expect(branchesOf(bare)).toEqual([branch, 'main'].sort());
  expect(tipOf(bare, 'main')).toBe(base);
  await waitFor('the workspace to be removed', () => world.leftoverWorkspaces().length === 0, { timeoutMs: 30_000 });
  return branch;
}

describe('a job that ends before its agent finishes leaves the agent’s work on a salvage branch', () => {
  it('when it is cancelled', async () => {
    const { bare, base, task, gate } = await stuckAgent();
    await world.startWorker();
    const jobId = await world.implement(task);
    await gate.reached();
    const cancelled = await world.api.call('POST', `/api/v1/jobs/${jobId}/cancel`, { reason: 'changed my mind' });
    expect(cancelled.status).toBe(200);
    await expectSalvaged(bare, base, jobId);
    expect(await world.job(jobId)).toMatchObject({ status: 'cancelled', error: { code: 'cancelled' } });
  });

  it('when its agent outlives AGENT_TIMEOUT_MS', async () => {
    const { bare, base, task, gate } = await stuckAgent();
    await world.startWorker({ env: { AGENT_TIMEOUT_MS: '8000' } });
    const jobId = await world.implement(task);
    await gate.reached();
    const job = await world.job(jobId);
    expect(job).toMatchObject({ status: 'failed', error: { code: 'timeout' } });
    const branch = await expectSalvaged(bare, base, jobId);
    // The job's error says where the work went.
    expect(job.error.details.salvage).toMatchObject({ branch, pushed: true, changed_files: ['README.md', 'draft.txt'] });
  });

  it('when its agent fails', async () => {
    const bare = makeBareRepo({ files: { 'README.md': 'A product.\n' } }).dir;
    const base = tipOf(bare, 'main');
    const product = await world.product({ repository_url: bare });
    const task = await world.task(product, '[agent:write=draft.txt=half done]', '[agent:append=README.md=Being changed.]', '[agent:fail]');
    await world.startWorker();
    const jobId = await world.implement(task);
    const job = await world.job(jobId);
    expect(job).toMatchObject({ status: 'failed', error: { code: 'agent_failed' } });
    const branch = await expectSalvaged(bare, base, jobId);
    expect(job.error.details.salvage).toMatchObject({ branch, pushed: true });
    expect((await world.api.call('GET', `/api/v1/tasks/${task}`)).body.status).toBe('failed');
  });

  it('when its worker is stopped with SIGTERM and the shutdown deadline passes', async () => {
    const { bare, base, task, gate } = await stuckAgent();
    const worker = await world.startWorker({ env: { SHUTDOWN_TIMEOUT_MS: '500' } });
    const jobId = await world.implement(task);
    await gate.reached();
    worker.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
    expect(await world.job(jobId)).toMatchObject({ status: 'failed', error: { code: 'worker_shutdown' } });
    // Salvaged before the worker exited, not by anyone after it.
    const branch = `jobfleet/salvage/${jobId}-${await claimEpoch(jobId)}`;
    expect(branchesOf(bare)).toContain(branch);
    await expectSalvaged(bare, base, jobId);
  });

  it('when its worker is SIGKILLed: the next worker started on the same WORKSPACE_ROOT salvages and removes the orphan', async () => {
    const { bare, base, task, gate } = await stuckAgent();
    const doomed = await world.startWorker();
    const jobId = await world.implement(task);
    const agentPid = await gate.reached();
    doomed.kill('SIGKILL');
    expect((await doomed.exited).signal).toBe('SIGKILL');
    // The agent has its own process group and outlives its worker.
    expect(isAlive(agentPid)).toBe(true);
    // Left behind: the worktree and its metadata file.
    const orphaned = world.leftoverWorkspaces().sort();
    expect(orphaned.map((entry) => path.basename(entry))).toEqual([`${jobId}-1`, `${jobId}-1.json`]);

    const sweeper = spawnJobfleet(['sweeper'], world.workerEnv());
    await sweeper.line(/sweeper running/);
    expect(await world.job(jobId)).toMatchObject({ status: 'failed', error: { code: 'worker_lost' } });
    // Nothing salvaged it yet: only a worker starting on this machine does.
    expect(branchesOf(bare)).toEqual(['main']);

    await world.startWorker();
    await expectSalvaged(bare, base, jobId);
    // The next worker stopped the dead worker's agent before it salvaged its workspace.
    expect(isAlive(agentPid)).toBe(false);
    expect(existsSync(orphaned[0] ?? '/')).toBe(false);
    // The dead worker's slot (`<root>/slots/<slot>`) went with it.
    expect(existsSync(path.dirname(path.dirname(orphaned[0] ?? '/')))).toBe(false);
    sweeper.kill('SIGTERM');
    await sweeper.exited;
  });
});

/** Whether a process exists and is not a zombie waiting to be reaped. */
function isAlive(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
