/**
 * Sprint runs on a product with a repository (SPEC "Workspaces", branches): a PER_TASK run's
 * steps each land on their task's branch; a SPRINT_BATCH run's steps land one after another on
 * the run's branch, each step seeing what the steps before it wrote.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait-for.js';
import { branchesOf, makeBareRepo, numstat, showFiles, tipOf } from '../helpers/git-repos.js';
import { commitsBetween, createWorkspaceWorld, type WorkspaceWorld } from '../helpers/workspace-world.js';

let world: WorkspaceWorld;
beforeAll(async () => {
  world = await createWorkspaceWorld();
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
async function sprintWith(tasks: { title: string; markers: string[]; dependsOn?: string }[]) {
  const bare = makeBareRepo({ files: { 'README.md': 'A product.\n' } }).dir;
  const product = await world.product({ repository_url: bare });
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
    const dispatcher = await call('GET', `/api/v1/jobs/${job.id}`, undefined, 200);
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
    // The run's job records the whole branch, from main to its last step.
    const batchJob = await call('GET', `/api/v1/jobs/${job.id}`, undefined, 200);
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
