/**
 * Sprint runs through the API with real worker processes and the dry-run agent (scripted through
 * the tasks' implementation plans): both modes, dependency order across three workers, a failed
 * step, pause and resume, cancel (killing a command agent), and a worker killed mid-run.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { createDryRunGate, removeDryRunGates } from '../helpers/dry-run-gate.js';
import { isAlive, type JobfleetProcess, killAll, spawnJobfleet } from '../helpers/processes.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

let env: TestEnv;
let api: ApiHarness;
let auth: { authorization: string };
let productId: string;
beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  auth = { authorization: `Bearer ${await api.token(['read', 'write', 'enqueue'], 'carol')}` };
  productId = (await call('POST', '/api/v1/products', { name: 'Runner' }, 201)).id;
});
afterEach(async () => {
  await killAll();
  removeDryRunGates();
});
afterAll(async () => {
  await api.close();
  await env.teardown();
});

async function call(method: string, path_: string, body: unknown, expected: number) {
  const response = await api.call(method, path_, body, auth);
  expect(response.status, `${method} ${path_}: ${JSON.stringify(response.body)}`).toBe(expected);
  return response.body;
}

interface Planned {
  title: string;
  plan?: string;
  dependsOn?: string[];
}

/** A sprint with one story per PBI holding the given tasks (by title), dependencies by title. */
async function sprintWith(tasks: Planned[]) {
  const sprint = await call('POST', '/api/v1/sprints', { product_id: productId, name: 'Sprint' }, 201);
  const pbi = await call('POST', '/api/v1/pbis', { product_id: productId, title: 'PBI' }, 201);
  const story = await call('POST', '/api/v1/stories', { pbi_id: pbi.id, title: 'Story' }, 201);
  await call('POST', `/api/v1/stories/${story.id}/transitions`, { to: 'in_sprint', sprint_id: sprint.id }, 200);
  const ids = new Map<string, string>();
  for (const task of tasks) {
    const created = await call(
      'POST',
      '/api/v1/tasks',
      { story_id: story.id, title: task.title, implementation_plan: task.plan ?? `Implement ${task.title}.` },
      201,
    );
    ids.set(task.title, created.id);
  }
  for (const task of tasks) {
    for (const dependency of task.dependsOn ?? []) {
      await call('POST', `/api/v1/tasks/${ids.get(task.title)}/dependencies`, { depends_on_task_id: ids.get(dependency) }, 201);
    }
  }
  return { sprintId: sprint.id as string, pbiId: pbi.id as string, storyId: story.id as string, ids };
}

async function startWorkers(count: number, extra: Record<string, string> = {}): Promise<JobfleetProcess[]> {
  const workers = Array.from({ length: count }, () =>
    spawnJobfleet(['worker', '--kinds', 'task_implementation,sprint_implementation', '--concurrency', '4'], { ...env.env, ...extra }),
  );
  await Promise.all(workers.map((worker) => worker.line(/jobfleet worker \S+ running/)));
  return workers;
}

async function runUntil(runId: string, statuses: string[], timeoutMs = 60_000) {
  return waitFor(
    `run ${runId} to be ${statuses.join(' or ')}`,
    async () => {
      const run = await call('GET', `/api/v1/sprint-runs/${runId}`, undefined, 200);
      return statuses.includes(run.status) ? run : undefined;
    },
    { timeoutMs },
  );
}

const steps = async (runId: string) => (await call('GET', `/api/v1/sprint-runs/${runId}/steps`, undefined, 200)).items;

describe.each(['sprint_batch', 'per_task'])('a %s run', (mode) => {
  it('implements every task in dependency order and ends done with its result', async () => {
    const { sprintId, pbiId, ids } = await sprintWith([
      { title: 'schema', plan: 'Add the table [dry-run:defer=backfill old rows]' },
      { title: 'api', plan: 'Add the route [dry-run:defer=rate limits] [dry-run:defer=docs]', dependsOn: ['schema'] },
      { title: 'ui', plan: 'Add the page', dependsOn: ['api'] },
    ]);
    await startWorkers(1);
    const started = await call('POST', `/api/v1/sprints/${sprintId}/runs`, { mode }, 202);
    expect(started.run).toMatchObject({ status: 'queued', mode, progress: { steps_total: 3, steps_completed: 0 } });
    expect(started.steps.map((step: { name: string }) => step.name)).toEqual(['schema', 'api', 'ui']);
    expect(started.job).toMatchObject({ kind: 'sprint_implementation', status: 'queued', sprint_run_id: started.run.id });

    const done = await runUntil(started.run.id, ['done', 'failed']);
    expect(done.status).toBe('done');
    expect(done.progress).toMatchObject({ steps_total: 3, steps_completed: 3, current_step: null });
    expect(done.result).toMatchObject({ sprint_id: sprintId, success: true, steps_completed: 3, steps_total: 3 });
    expect(done.result.deferred).toEqual(['backfill old rows', 'rate limits', 'docs']);
    expect(done.result.agent_results.map((r: { agent: string; status: string }) => [r.agent, r.status])).toEqual([
      ['dry-run', 'completed'],
      ['dry-run', 'completed'],
      ['dry-run', 'completed'],
    ]);
    expect(done.result.duration_seconds).toBeGreaterThanOrEqual(0);

    for (const id of ids.values()) expect((await call('GET', `/api/v1/tasks/${id}`, undefined, 200)).status).toBe('done');
    expect((await call('GET', `/api/v1/pbis/${pbiId}`, undefined, 200)).status).toBe('done');
    expect((await call('GET', `/api/v1/sprints/${sprintId}`, undefined, 200)).status).toBe('active');
    const history = await call('GET', `/api/v1/sprint-runs/${started.run.id}/history`, undefined, 200);
    expect(history.items.map((h: { to: string }) => h.to)).toEqual(['queued', 'running', 'done']);
  });

  it('fails at a failed step: later steps skipped, the sprint blocked', async () => {
    const { sprintId, ids } = await sprintWith([
      { title: 'first' },
      { title: 'second', plan: 'This breaks [dry-run:fail]', dependsOn: ['first'] },
      { title: 'third', dependsOn: ['second'] },
    ]);
    await startWorkers(1);
    const started = await call('POST', `/api/v1/sprints/${sprintId}/runs`, { mode }, 202);
    const failed = await runUntil(started.run.id, ['done', 'failed']);
    expect(failed.status).toBe('failed');
    expect((await steps(started.run.id)).map((step: { status: string }) => step.status)).toEqual(['completed', 'failed', 'skipped']);
    expect(failed.result).toMatchObject({ success: false, steps_completed: 1, steps_total: 3 });
    expect((await call('GET', `/api/v1/sprints/${sprintId}`, undefined, 200)).status).toBe('failed');
    expect((await call('GET', `/api/v1/tasks/${ids.get('second')}`, undefined, 200)).status).toBe('failed');
    expect((await call('GET', `/api/v1/tasks/${ids.get('third')}`, undefined, 200)).status).toBe('todo');
  });

  it('pauses (the running step finishes, no new one starts) and resumes where it stopped', async () => {
    const gate = createDryRunGate();
    const { sprintId } = await sprintWith([
      { title: 'one', plan: `Held until paused ${gate.marker}` },
      { title: 'two', dependsOn: ['one'] },
      { title: 'three', dependsOn: ['two'] },
    ]);
    await startWorkers(1);
    const started = await call('POST', `/api/v1/sprints/${sprintId}/runs`, { mode }, 202);
    const runId = started.run.id;
    await waitFor('the first step to be running', async () => (await steps(runId))[0].status === 'in_progress');
    const paused = await call('POST', `/api/v1/sprint-runs/${runId}/pause`, { reason: 'lunch' }, 200);
    expect(paused.status).toBe('paused');
    gate.open();

    await waitFor('the running step to finish', async () => (await steps(runId))[0].status === 'completed');
    // Nothing works for the run any more: its jobs are all finished, and no step started.
    await waitFor('the run to have no live job', async () => {
      const jobs = await call('GET', `/api/v1/jobs?sprint_run_id=${runId}&status=queued,claimed,running`, undefined, 200);
      return jobs.items.length === 0;
    });
    expect((await steps(runId)).map((step: { status: string }) => step.status)).toEqual(['completed', 'pending', 'pending']);
    expect((await call('GET', `/api/v1/sprint-runs/${runId}`, undefined, 200)).progress.current_step.name).toBe('two');

    expect((await call('POST', `/api/v1/sprint-runs/${runId}/resume`, {}, 200)).status).toBe('running');
    expect((await runUntil(runId, ['done', 'failed'])).status).toBe('done');
    const history = await call('GET', `/api/v1/sprint-runs/${runId}/history`, undefined, 200);
    expect(history.items.map((h: { to: string }) => h.to)).toEqual(['queued', 'running', 'paused', 'running', 'done']);
    expect(history.items[2].reason).toBe('lunch');
  });
});

describe('a per-task run on three workers', () => {
  it('never starts a step before its dependencies complete, and runs independent steps at once', async () => {
    const [gateA, gateB, gateC] = [createDryRunGate(), createDryRunGate(), createDryRunGate()];
    const { sprintId } = await sprintWith([
      { title: 'a', plan: `Work ${gateA!.marker}` },
      { title: 'b', plan: `Work ${gateB!.marker}` },
      { title: 'c', plan: `Work ${gateC!.marker}` },
      { title: 'd', plan: 'Work', dependsOn: ['a', 'b'] },
      { title: 'e', plan: 'Work', dependsOn: ['d'] },
      { title: 'f', plan: 'Work', dependsOn: ['c'] },
    ]);
    await startWorkers(3);
    const started = await call('POST', `/api/v1/sprints/${sprintId}/runs`, { mode: 'per_task' }, 202);
    const statuses = async () =>
      Object.fromEntries((await steps(started.run.id)).map((step: { name: string; status: string }) => [step.name, step.status]));
    const held = { a: 'in_progress', b: 'in_progress', c: 'in_progress', d: 'pending', e: 'pending', f: 'pending' };
    // a, b and c depend on nothing: they run side by side, held at their gates.
    await waitFor('a, b and c to run at once', async () => JSON.stringify(await statuses()) === JSON.stringify(held));
    gateA!.open();
    await waitFor('a to complete', async () => (await statuses()).a === 'completed');
    // d waits for b, which is still held.
    expect(await statuses()).toEqual({ ...held, a: 'completed' });
    gateB!.open();
    gateC!.open();
    expect((await runUntil(started.run.id, ['done', 'failed'])).status).toBe('done');

    const byName = new Map<string, { started_at: string; completed_at: string; task_id: string }>(
      (await steps(started.run.id)).map((step: { name: string }) => [step.name, step]),
    );
    const at = (name: string, field: 'started_at' | 'completed_at') => Date.parse(byName.get(name)![field]);
    for (const [step, dependencies] of [
      ['d', ['a', 'b']],
      ['e', ['d']],
      ['f', ['c']],
    ] as const) {
      for (const dependency of dependencies) expect(at(step, 'started_at')).toBeGreaterThanOrEqual(at(dependency, 'completed_at'));
    }
    expect(at('b', 'started_at')).toBeLessThan(at('a', 'completed_at'));
    expect(at('c', 'started_at')).toBeLessThan(at('a', 'completed_at'));
    const jobs = await call('GET', `/api/v1/jobs?sprint_run_id=${started.run.id}&kind=task_implementation`, undefined, 200);
    expect(new Set(jobs.items.map((job: { claimed_by_worker_id: string }) => job.claimed_by_worker_id)).size).toBeGreaterThan(1);
  });
});

describe('starting a run', () => {
  it('is refused with 422 listing every reason the sprint cannot run', async () => {
    const { sprintId, pbiId, ids } = await sprintWith([
      { title: 'planned' },
      { title: 'unplanned', plan: ' ' },
      { title: 'also unplanned', plan: '' },
    ]);
    await call('PATCH', `/api/v1/tasks/${ids.get('unplanned')}`, { implementation_plan: null }, 200);
    await call('POST', `/api/v1/pbis/${pbiId}/transitions`, { to: 'blocked' }, 200);
    const refused = await call('POST', `/api/v1/sprints/${sprintId}/runs`, { mode: 'per_task' }, 422);
    expect(refused.error.details.reasons).toEqual([
      `task ${ids.get('unplanned')} ("unplanned") has no implementation plan`,
      `task ${ids.get('also unplanned')} ("also unplanned") has no implementation plan`,
      `PBI ${pbiId} ("PBI") is blocked`,
    ]);
    expect((await call('GET', `/api/v1/sprint-runs?sprint_id=${sprintId}`, undefined, 200)).items).toEqual([]);
  });

  it('is refused while another run of the sprint is active, and for an unknown mode', async () => {
    const { sprintId } = await sprintWith([{ title: 'only' }]);
    await call('POST', `/api/v1/sprints/${sprintId}/runs`, { mode: 'sprint_batch' }, 202);
    const refused = await call('POST', `/api/v1/sprints/${sprintId}/runs`, { mode: 'sprint_batch' }, 422);
    expect(refused.error.details.reasons[0]).toMatch(/^run \S+ of this sprint is already queued$/);
    const bad = await call('POST', `/api/v1/sprints/${sprintId}/runs`, { mode: 'parallel' }, 422);
    expect(bad.error.message).toContain('must be one of per_task, sprint_batch');
  });
});

describe('cancelling a run', () => {
  it('aborts a running command agent (its process is gone), skips the remaining steps and cancels the run', async () => {
    const pidDir = mkdtempSync(path.join(os.tmpdir(), 'jobfleet-run-pids-'));
    try {
      const agent = path.join(import.meta.dirname, '..', 'fixtures', 'agents', 'record-pid-and-sleep.mjs');
      const { sprintId } = await sprintWith([{ title: 'forever' }, { title: 'never', dependsOn: ['forever'] }]);
      await startWorkers(1, {
        AGENT: 'command',
        AGENT_COMMAND: `${JSON.stringify(process.execPath)} ${JSON.stringify(agent)}`,
        PID_DIR: pidDir,
      });
      const started = await call('POST', `/api/v1/sprints/${sprintId}/runs`, { mode: 'per_task' }, 202);
      const runId = started.run.id;
      const step = await waitFor('the first step to be running', async () => {
        const [first] = await steps(runId);
        return first.status === 'in_progress' && first.job_id ? first : undefined;
      });
      const pidFile = path.join(pidDir, `${step.job_id}.pid`);
      const pid = await waitFor('the agent to start', () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : undefined));

      const cancelled = await call('POST', `/api/v1/sprint-runs/${runId}/cancel`, { reason: 'wrong sprint' }, 200);
      expect(cancelled).toMatchObject({ status: 'cancelled', error: 'wrong sprint' });
      await waitFor('the agent process to be gone', () => !isAlive(pid), { timeoutMs: 10_000 });
      expect((await steps(runId)).map((s: { status: string }) => s.status)).toEqual(['skipped', 'skipped']);
      const job = await call('GET', `/api/v1/jobs/${step.job_id}`, undefined, 200);
      expect(job).toMatchObject({ status: 'cancelled', error: { code: 'run_stopped' } });
      expect((await call('GET', `/api/v1/sprints/${sprintId}`, undefined, 200)).status).toBe('active');
      expect((await call('GET', `/api/v1/sprint-runs/${runId}`, undefined, 200)).result).toMatchObject({
        success: false,
        steps_completed: 0,
        steps_total: 2,
      });
    } finally {
      rmSync(pidDir, { recursive: true, force: true });
    }
  });

  it("answers every cancel sent while a worker claims the run's first job with 200, never a deadlock", async () => {
    await startWorkers(1);
    const gate = createDryRunGate();
    const sprints = await Promise.all(Array.from({ length: 24 }, () => sprintWith([{ title: 'held', plan: `Hold ${gate.marker}` }])));
    // Each cancel goes out the moment its run is accepted, while the worker claims and starts the
    // run's first job: the claim locks the job and then the run; the cancel must not take the run first.
    const answers = [];
    for (const { sprintId } of sprints) {
      const started = await call('POST', `/api/v1/sprints/${sprintId}/runs`, { mode: 'per_task' }, 202);
      const answer = await api.call('POST', `/api/v1/sprint-runs/${started.run.id}/cancel`, { reason: 'race' }, auth);
      answers.push([answer.status, answer.body?.status ?? answer.body?.error?.message]);
    }
    expect(answers).toEqual(sprints.map(() => [200, 'cancelled']));
  });
});

describe('a worker killed mid-run', () => {
  it.each(['sprint_batch', 'per_task'])(
    'does not strand a %s run: the retried job runs the interrupted step again and the run ends done',
    async (mode) => {
      const { sprintId } = await sprintWith([{ title: 'one' }, { title: 'two', dependsOn: ['one'] }]);
      const [doomed] = await startWorkers(1, { DRY_RUN_DELAY_MS: '600000' });
      const started = await call('POST', `/api/v1/sprints/${sprintId}/runs`, { mode }, 202);
      const runId = started.run.id;
      await waitFor('the first step to be running', async () => (await steps(runId))[0].status === 'in_progress');
      doomed!.kill('SIGKILL');
      await doomed!.exited;

      await startWorkers(1);
      const sweeper = spawnJobfleet(['sweeper'], env.env);
      await sweeper.line(/sweeper running/);
      const done = await runUntil(runId, ['done', 'failed']);
      expect(done.status).toBe('done');
      expect((await steps(runId)).map((s: { status: string }) => s.status)).toEqual(['completed', 'completed']);
      const lost = await call('GET', `/api/v1/jobs?sprint_run_id=${runId}&status=failed`, undefined, 200);
      expect(lost.items.map((job: { error: { code: string } }) => job.error.code)).toEqual(['worker_lost']);
    },
  );
});
