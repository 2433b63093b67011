/**
 * Sprint runs on a product with a repository (SPEC "Workspaces", branches): a PER_TASK run's
 * steps each land on their task's branch; a SPRINT_BATCH run's steps land one after another on
 * the run's branch, each step seeing what the steps before it wrote. With a check, a verified
 * task is its step completing; a step whose check keeps failing fails the run
 * (VERIFY_MAX_ATTEMPTS is 2 here).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait-for.js';
import { branchesOf, makeBareRepo, numstat, showFiles, tipOf } from '../helpers/git-repos.js';
import { commitsBetween, createWorkspaceWorld, type WorkspaceWorld } from '../helpers/workspace-world.js';

let world: WorkspaceWorld;
beforeAll(async () => {
  world = await createWorkspaceWorld({ VERIFY_MAX_ATTEMPTS: '2' });
  await world.startWorker({ kinds: 'task_implementation,sprint_implementation', concurrency: 2 });
}, 120_000);
afterAll(async () => {
  await world.close();
}, 120_000);

async function call(method: string, path: string, body: unknown, expected: number) {
  const response = await world.api.call(method, path, body);
  expect(response.status, `${method} ${path}: ${JSON.stringify(response.body)}`).toBe(expected);
  return response.body;
}

/** A sprint of a product on a fresh repository, one task per entry (by title, markers as plan). */
async function sprintWith(tasks: { title: string; markers: string[]; dependsOn?: string }[], check: string | null = null) {
  const bare = makeBareRepo({ files: { 'README.md': 'A product.\n' } }).dir;
  const product = await world.product({ repository_url: bare, check_command: check });
  const sprint = await call('POST', '/api/v1/sprints', { product_id: product, name: 'Sprint' }, 201);
  const pbi = await call('POST', '/api/v1/pbis', { product_id: product, title: 'PBI' }, 201);
  const story = await call('POST', '/api/v1/stories', { pbi_id: pbi.id, title: 'Story' }, 201);
  await call('POST', `/api/v1/stories/${story.id}/transitions`, { to: 'in_sprint', sprint_id: sprint.id }, 200);
  const ids = new Map<string, string>();
  for (const task of tasks) {
    const created = await call(
      'POST',
      '/api/v1/tasks',
      { story_id: story.id, title: task.title, implementation_plan: task.markers.join('\n') },
      201,
    );
    ids.set(task.title, created.id);
  }
  for (const task of tasks) {
    if (task.dependsOn) {
      await call('POST', `/api/v1/tasks/${ids.get(task.title)}/dependencies`, { depends_on_task_id: ids.get(task.dependsOn) }, 201);
    }
  }
  return { bare, base: tipOf(bare, 'main'), sprintId: sprint.id as string, ids };
}

async function runToEnd(sprintId: string, mode: string) {
  const started = await call('POST', `/api/v1/sprints/${sprintId}/runs`, { mode }, 202);
  const run = await waitFor(
    `run ${started.run.id} to end`,
    async () => {
      const body = await call('GET', `/api/v1/sprint-runs/${started.run.id}`, undefined, 200);
      return ['done', 'failed', 'cancelled'].includes(body.status) ? body : undefined;
    },
    { timeoutMs: 90_000 },
  );
  return { run, job: started.job };
}

describe('a per_task run', () => {
  it('lands each step on its own task branch from main, and its dispatcher job opens no workspace', async () => {
    const { bare, base, sprintId, ids } = await sprintWith([
      { title: 'schema', markers: ['[agent:write=schema.sql=create table t;]'] },
      { title: 'docs', markers: ['[agent:write=docs.md=# Docs]'] },
    ]);
    const { run, job } = await runToEnd(sprintId, 'per_task');
    expect(run.status, JSON.stringify(run.error)).toBe('done');

    const schema = `jobfleet/task-${ids.get('schema')}`;
    const docs = `jobfleet/task-${ids.get('docs')}`;
    expect(branchesOf(bare)).toEqual([docs, schema, 'main'].sort());
    expect(numstat(bare, base, schema).changed_files).toEqual(['schema.sql']);
    expect(numstat(bare, base, docs).changed_files).toEqual(['docs.md']);

    const stepJobs = await call('GET', `/api/v1/jobs?sprint_run_id=${run.id}&kind=task_implementation`, undefined, 200);
    const branches = stepJobs.items.map((item: { result: { workspace: { branch: string; base_sha: string } } }) => item.result.workspace);
    expect(branches.map((workspace: { branch: string }) => workspace.branch).sort()).toEqual([docs, schema].sort());
    for (const workspace of branches) expect(workspace).toMatchObject({ base_sha: base, pushed: true });
    const dispatcher = await world.job(job.id);
    expect(dispatcher.status).toBe('done');
    expect(dispatcher.result).not.toHaveProperty('workspace');
    expect(world.leftoverWorkspaces()).toEqual([]);
  });
});

describe('a sprint_batch run', () => {
  it("lands every step on jobfleet/run-<run> in order, and the second step's agent sees the first step's work", async () => {
    const report = world.reportFile();
    const { bare, base, sprintId, ids } = await sprintWith([
      { title: 'model', markers: ['[agent:write=model.txt=the model]', report.marker] },
      { title: 'view', markers: [report.marker, '[agent:write=view.txt=the view]'], dependsOn: 'model' },
    ]);
    const { run, job } = await runToEnd(sprintId, 'sprint_batch');
    expect(run.status, JSON.stringify(run.error)).toBe('done');

    const branch = `jobfleet/run-${run.id}`;
    expect(branchesOf(bare)).toEqual([branch, 'main'].sort());
    // The run's job records the whole branch, from main to its last step (the run is done
    // with its last step, a moment before its job is).
    const batchJob = await world.job(job.id);
    expect(batchJob.status).toBe('done');
    expect(batchJob.result.workspace).toEqual({
      branch,
      base_sha: base,
      head_sha: tipOf(bare, branch),
      ...numstat(bare, base, branch),
      pushed: true,
    });
    expect(showFiles(bare, branch)).toEqual({ 'README.md': 'A product.\n', 'model.txt': 'the model\n', 'view.txt': 'the view\n' });
    // One commit per step, in step order, each holding its own step's file.
    const commits = commitsBetween(bare, base, branch);
    expect(commits.map((commit) => commit.subject)).toEqual([
      expect.stringMatching(/^jobfleet: step \d+: model$/),
      expect.stringMatching(/^jobfleet: step \d+: view$/),
    ]);
    expect(numstat(bare, base, `${branch}~1`).changed_files).toEqual(['model.txt']);
    expect(numstat(bare, `${branch}~1`, branch).changed_files).toEqual(['view.txt']);

    const [first, second] = report.read();
    expect(first).toMatchObject({ JOBFLEET_BRANCH: branch, JOBFLEET_BASE_SHA: base });
    expect(first?.files).toEqual(['README.md', 'model.txt']);
    expect(second?.JOBFLEET_BRANCH).toBe(branch);
    expect(second?.files).toEqual(['README.md', 'model.txt']);
    for (const id of ids.values()) expect((await call('GET', `/api/v1/tasks/${id}`, undefined, 200)).status).toBe('done');
    expect(world.leftoverWorkspaces()).toEqual([]);
  });
});

describe('a per_task run with a check', () => {
  it('retries a step whose check fails in a job of the same run; the retry passes, the step completes and the run is done', async () => {
    const report = world.reportFile();
    const check = "sed 's/^/status is /' status.txt; grep -q fixed status.txt";
    const { bare, sprintId, ids } = await sprintWith(
      [{ title: 'fix', markers: ['[agent:write=status.txt=broken]', '[agent:fix-on-retry=status.txt=fixed]', report.marker] }],
      check,
    );
    const { run } = await runToEnd(sprintId, 'per_task');
    expect(run.status, JSON.stringify(run.error)).toBe('done');

    const task = ids.get('fix');
    const jobs = await call('GET', `/api/v1/jobs?sprint_run_id=${run.id}&kind=task_implementation`, undefined, 200);
    const [first, retry] = [...jobs.items].sort((a: { created_at: string }, b: { created_at: string }) =>
      a.created_at.localeCompare(b.created_at),
    );
    expect(first.result.verify).toMatchObject({ passed: false, attempt: 1, output_tail: 'status is broken\n' });
    expect(retry).toMatchObject({ status: 'done', retry_of_job_id: first.id, sprint_run_id: run.id, task_id: task });
    expect(retry.result.verify).toMatchObject({ passed: true, attempt: 2 });
    expect(report.read().map((seen) => /check failed/i.test(seen.prompt) && seen.prompt.includes('status is broken'))).toEqual([
      false,
      true,
    ]);
    expect(showFiles(bare, `jobfleet/task-${task}`)['status.txt']).toBe('fixed\n');
    const [step] = (await call('GET', `/api/v1/sprint-runs/${run.id}/steps`, undefined, 200)).items;
    expect(step.status).toBe('completed');
    expect((await call('GET', `/api/v1/tasks/${task}`, undefined, 200)).status).toBe('done');
  });
});

describe('a sprint_batch run with a check that keeps failing', () => {
  it('runs the step again in the same workspace with the failing output, then fails the step, its task (gave_up) and the run', async () => {
    const report = world.reportFile();
    const { bare, base, sprintId, ids } = await sprintWith(
      [
        { title: 'flaky', markers: [report.marker, '[agent:append=attempts.txt=another try]'] },
        { title: 'after', markers: ['[agent:write=after.txt=never written]'], dependsOn: 'flaky' },
      ],
      // The check leaves output behind: discarded after each check, never seen or committed.
      'echo "still failing"; echo leftover > check-output.log; exit 5',
    );
    const { run, job } = await runToEnd(sprintId, 'sprint_batch');
    expect(run.status).toBe('failed');
    // A failed run stops its own job (cancelled, run_stopped), which then salvages and removes the workspace.
    expect(await world.job(job.id)).toMatchObject({ status: 'cancelled', error: { code: 'run_stopped' } });

    // Two attempts in one workspace: the second saw the first's file and was told why it failed.
    const [first, second] = report.read();
    expect(report.read()).toHaveLength(2);
    expect(second?.cwd).toBe(first?.cwd);
    expect(first?.files).toEqual(['README.md']);
    expect(second?.files).toEqual(['README.md', 'attempts.txt']);
    expect(first?.prompt).not.toMatch(/check failed/i);
    expect(second?.prompt).toMatch(/check failed/i);
    expect(second?.prompt).toContain('still failing');

    const steps = (await call('GET', `/api/v1/sprint-runs/${run.id}/steps`, undefined, 200)).items;
    expect(steps.map((step: { status: string }) => step.status)).toEqual(['failed', 'skipped']);
    const flaky = ids.get('flaky');
    expect((await call('GET', `/api/v1/tasks/${flaky}`, undefined, 200)).status).toBe('failed');
    const history = (await call('GET', `/api/v1/tasks/${flaky}/history`, undefined, 200)).items;
    expect(
      history
        .filter((entry: { from: string }) => entry.from === 'review')
        .map((entry: { to: string; trigger: string }) => `${entry.to}:${entry.trigger}`),
    ).toEqual(['in_progress:verify_failed', 'failed:gave_up']);
    // Each attempt was pushed to the run's branch before its check ran.
    const branch = `jobfleet/run-${run.id}`;
    expect(showFiles(bare, branch)['attempts.txt']).toBe('another try\nanother try\n');
    expect(Object.keys(showFiles(bare, branch))).not.toContain('check-output.log');
    expect(commitsBetween(bare, base, branch)).toHaveLength(2);
    await waitFor('the run workspace to be removed', () => world.leftoverWorkspaces().length === 0);
  });
});
