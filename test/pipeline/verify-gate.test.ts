/**
 * The verify gate (SPEC "Workspaces", seed 001 Task REVIEW -> DONE / IN_PROGRESS / FAILED): a
 * product's check_command runs in the workspace after the agent; its verdict moves the task, and
 * a failed check retries the job with the failing output in the retry's prompt, up to
 * VERIFY_MAX_ATTEMPTS (2 here).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait-for.js';
import { makeBareRepo, showFiles, tipOf } from '../helpers/git-repos.js';
import { commitsBetween, createWorkspaceWorld, type WorkspaceWorld } from '../helpers/workspace-world.js';

let world: WorkspaceWorld;
beforeAll(async () => {
  world = await createWorkspaceWorld({ VERIFY_MAX_ATTEMPTS: '2' });
  await world.startWorker();
}, 120_000);
afterAll(async () => {
  await world.close();
}, 120_000);

/** A task on a fresh repository whose product checks with `check`; the agent does `markers`. */
async function checkedTask(check: string, ...markers: string[]) {
  const bare = makeBareRepo({ files: { 'README.md': 'A product.\n' } }).dir;
  const product = await world.product({ repository_url: bare, check_command: check });
  return { bare, base: tipOf(bare, 'main'), task: await world.task(product, ...markers) };
}

/** The task once it has left IN_PROGRESS/REVIEW for good (done or failed). */
async function settled(task: string) {
  return waitFor(
    `task ${task} to be done or failed`,
    async () => {
      const { body } = await world.api.call('GET', `/api/v1/tasks/${task}`);
      return ['done', 'failed'].includes(body.status) ? body : undefined;
    },
    { timeoutMs: 90_000 },
  );
}

/** The task's implementation jobs, oldest first, each once it has finished. */
async function jobsOf(task: string) {
  const rows = await world.db.selectFrom('claude_jobs').select('id').where('task_id', '=', task).orderBy('created_at').execute();
  const jobs = [];
  for (const row of rows) jobs.push(await world.job(row.id));
  return jobs;
}

async function historyOf(task: string) {
  const { body } = await world.api.call('GET', `/api/v1/tasks/${task}/history`);
  return body.items as { from: string | null; to: string; trigger: string; artifacts: any }[];
}

describe('a check command that passes', () => {
  it('moves the task to done (verify_passed), and the job records the check', async () => {
    const check = 'grep ready status.txt';
    const { task } = await checkedTask(check, '[agent:write=status.txt=ready]');
    const jobId = await world.implement(task);
    const job = await world.job(jobId);
    expect(job.status, JSON.stringify(job.error)).toBe('done');
    // The contract's fields (main adds max_attempts beside them).
    expect(job.result.verify).toMatchObject({
      command: check,
      passed: true,
      exit_code: 0,
      attempt: 1,
      output_tail: 'ready\n',
      timed_out: false,
    });
    expect((await settled(task)).status).toBe('done');

    const history = await historyOf(task);
    const moves = history.filter((entry) => ['implementation_done', 'verify_passed'].includes(entry.trigger));
    expect(moves.map((entry) => `${entry.from}>${entry.to}:${entry.trigger}`)).toEqual([
      'in_progress>review:implementation_done',
      'review>done:verify_passed',
    ]);
    expect(moves[0]?.artifacts).toEqual({ job_id: jobId, workspace: job.result.workspace });
    expect(moves[1]?.artifacts).toEqual({ job_id: jobId, verify: job.result.verify });
    expect(await jobsOf(task)).toHaveLength(1);
  });
});

describe('a check command that fails, then passes', () => {
  it('retries the job on the same branch with the failing output in its prompt, and the retry gets the task done', async () => {
    // Its output ("status is broken") is in no marker: only the check's own words can bring it to a prompt.
    const check = "sed 's/^/status is /' status.txt; grep -q fixed status.txt";
    const report = world.reportFile();
    const { bare, base, task } = await checkedTask(
      check,
      '[agent:write=status.txt=broken]',
      '[agent:fix-on-retry=status.txt=fixed]',
      report.marker,
    );
    const firstId = await world.implement(task);
    expect((await settled(task)).status).toBe('done');

    const [first, retry] = await jobsOf(task);
    expect(first).toMatchObject({ id: firstId, status: 'done' });
    expect(first.result.verify).toMatchObject({ command: check, passed: false, exit_code: 1, attempt: 1, timed_out: false });
    expect(first.result.verify.output_tail).toBe('status is broken\n');
    expect(retry).toMatchObject({ status: 'done', retry_of_job_id: firstId, kind: 'task_implementation', task_id: task });
    expect(retry.payload.verify).toEqual({ attempt: 2, failure: first.result.verify.output_tail, command: check });
    expect(retry.result.verify).toMatchObject({ command: check, passed: true, exit_code: 0, attempt: 2 });

    // The retry built on what the first job pushed, on the same branch.
    const branch = `jobfleet/task-${task}`;
    expect(first.result.workspace).toMatchObject({ branch, base_sha: base, pushed: true });
    expect(retry.result.workspace).toMatchObject({ branch, base_sha: first.result.workspace.head_sha, pushed: true });
    expect(tipOf(bare, branch)).toBe(retry.result.workspace.head_sha);
    expect(showFiles(bare, branch)['status.txt']).toBe('fixed\n');
    expect(commitsBetween(bare, base, branch).map((commit) => commit.subject)).toEqual([
      `jobfleet: work left uncommitted by job ${first.id}`,
      `jobfleet: work left uncommitted by job ${retry.id}`,
    ]);

    // Only the retry's prompt carried the failure, with the check's own words.
    const [seenFirst, seenRetry] = report.read();
    expect(seenFirst?.JOBFLEET_JOB_ID).toBe(first.id);
    expect(seenFirst?.prompt).not.toMatch(/check failed/i);
    expect(seenFirst?.prompt).not.toContain('status is broken');
    expect(seenRetry?.JOBFLEET_JOB_ID).toBe(retry.id);
    expect(seenRetry?.prompt).toMatch(/check failed/i);
    expect(seenRetry?.prompt).toContain('status is broken');
    expect(seenRetry?.prompt).toContain(check);

    const moves = (await historyOf(task)).filter((entry) => entry.trigger.startsWith('verify_') || entry.trigger === 'implementation_done');
    expect(moves.map((entry) => `${entry.from}>${entry.to}:${entry.trigger}`)).toEqual([
      'in_progress>review:implementation_done',
      'review>in_progress:verify_failed',
      'in_progress>review:implementation_done',
      'review>done:verify_passed',
    ]);
    expect(moves[1]?.artifacts).toEqual({ job_id: first.id, verify: first.result.verify, retry_job_id: retry.id });
  });
});

describe('a check command that fails every time', () => {
  it('runs VERIFY_MAX_ATTEMPTS jobs, then the task fails (gave_up); every job is done with its verdict', async () => {
    const check = 'echo "still not right"; exit 7';
    const { task } = await checkedTask(check, '[agent:append=attempts.txt=one more try]');
    const firstId = await world.implement(task);
    expect((await settled(task)).status).toBe('failed');

    const jobs = await jobsOf(task);
    expect(jobs.map((job) => [job.status, job.result.verify.attempt, job.result.verify.passed, job.result.verify.exit_code])).toEqual([
      ['done', 1, false, 7],
      ['done', 2, false, 7],
    ]);
    expect(jobs[0]?.id).toBe(firstId);
    expect(jobs[1]?.retry_of_job_id).toBe(firstId);
    expect(jobs[1]?.result.verify.output_tail).toBe('still not right\n');

    const moves = (await historyOf(task)).filter((entry) => entry.from === 'review');
    expect(moves.map((entry) => `${entry.to}:${entry.trigger}`)).toEqual(['in_progress:verify_failed', 'failed:gave_up']);
  });
});
