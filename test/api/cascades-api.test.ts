/**
 * Every cascade of the contract, seen through the API: tasks done -> story done -> PBI done; a
 * failed task fails its story; a blocked PBI is not promoted; a story joining a sprint takes its
 * tasks along. And the transitions routes' refusals: system-only edges, bad statuses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let api: ApiHarness;
let auth: { authorization: string };
let productId: string;
let sprintId: string;
beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  auth = { authorization: `Bearer ${await api.token(['read', 'write'], 'bob')}` };
  productId = (await call('POST', '/api/v1/products', { name: 'Shop' }, 201)).id;
  sprintId = (await call('POST', '/api/v1/sprints', { product_id: productId, name: 'Sprint 1' }, 201)).id;
});
afterAll(async () => {
  await api.close();
  await env.teardown();
});

async function call(method: string, path: string, body: unknown, expected: number) {
  const response = await api.call(method, path, body, auth);
  expect(response.status, `${method} ${path}: ${JSON.stringify(response.body)}`).toBe(expected);
  return response.body;
}

const move = (resource: string, id: string, to: string, extra: object = {}) =>
  call('POST', `/api/v1/${resource}/${id}/transitions`, { to, ...extra }, 200);
const statusOf = async (resource: string, id: string) => (await call('GET', `/api/v1/${resource}/${id}`, undefined, 200)).status;

/** A PBI with `stories` stories in the sprint, each with `tasks` tasks. */
async function backlog(stories: number, tasks: number) {
  const pbi = await call('POST', '/api/v1/pbis', { product_id: productId, title: 'Checkout' }, 201);
  const made = [];
  for (let s = 0; s < stories; s += 1) {
    const story = await call('POST', '/api/v1/stories', { pbi_id: pbi.id, title: `Story ${s}` }, 201);
    await move('stories', story.id, 'in_sprint', { sprint_id: sprintId });
    const ids = [];
    for (let t = 0; t < tasks; t += 1) ids.push((await call('POST', '/api/v1/tasks', { story_id: story.id, title: `Task ${t}` }, 201)).id);
    made.push({ id: story.id as string, tasks: ids as string[] });
  }
  return { pbi: pbi.id as string, stories: made };
}

async function finish(taskId: string) {
  for (const to of ['in_progress', 'review', 'done']) await move('tasks', taskId, to);
}

describe('cascades through the API', () => {
  it('completes the story when its tasks are done, and the PBI when its stories are', async () => {
    const { pbi, stories } = await backlog(2, 2);
    await finish(stories[0]!.tasks[0]!);
    expect(await statusOf('stories', stories[0]!.id)).toBe('in_sprint');
    await finish(stories[0]!.tasks[1]!);
    expect(await statusOf('stories', stories[0]!.id)).toBe('done');
    expect(await statusOf('pbis', pbi)).toBe('ready');
    for (const task of stories[1]!.tasks) await finish(task);
    expect(await statusOf('stories', stories[1]!.id)).toBe('done');
    expect(await statusOf('pbis', pbi)).toBe('done');
    const history = await call('GET', `/api/v1/pbis/${pbi}/history`, undefined, 200);
    expect(history.items.at(-1)).toMatchObject({ from: 'ready', to: 'done', trigger: 'all_stories_done' });
  });

  it('fails the story when one of its tasks fails', async () => {
    const { pbi, stories } = await backlog(1, 2);
    await move('tasks', stories[0]!.tasks[0]!, 'in_progress');
    await move('tasks', stories[0]!.tasks[0]!, 'failed', { reason: 'the API it needs was retired' });
    expect(await statusOf('stories', stories[0]!.id)).toBe('failed');
    expect(await statusOf('pbis', pbi)).toBe('ready');
    const history = await call('GET', `/api/v1/stories/${stories[0]!.id}/history`, undefined, 200);
    expect(history.items.at(-1)).toMatchObject({ to: 'failed', trigger: 'task_failed' });
  });

  it('never promotes a blocked PBI', async () => {
    const { pbi, stories } = await backlog(1, 1);
    await move('pbis', pbi, 'blocked', { reason: 'waiting for legal' });
    await finish(stories[0]!.tasks[0]!);
    expect(await statusOf('stories', stories[0]!.id)).toBe('done');
    expect(await statusOf('pbis', pbi)).toBe('blocked');
    const valid = await call('GET', `/api/v1/pbis/${pbi}/valid-transitions`, undefined, 200);
    expect(valid.transitions.map((t: { to: string }) => t.to)).toEqual(['ready', 'failed']);
  });

  it("takes a story's tasks into its sprint and back out", async () => {
    const pbi = await call('POST', '/api/v1/pbis', { product_id: productId, title: 'Loose' }, 201);
    const story = await call('POST', '/api/v1/stories', { pbi_id: pbi.id, title: 'Wandering' }, 201);
    const task = await call('POST', '/api/v1/tasks', { story_id: story.id, title: 'Along for the ride' }, 201);
    expect(task.sprint_id).toBeNull();
    expect((await move('stories', story.id, 'in_sprint', { sprint_id: sprintId })).sprint_id).toBe(sprintId);
    expect((await call('GET', `/api/v1/tasks/${task.id}`, undefined, 200)).sprint_id).toBe(sprintId);
    const inSprint = await call('GET', `/api/v1/tasks?sprint_id=${sprintId}`, undefined, 200);
    expect(inSprint.items.map((t: { id: string }) => t.id)).toContain(task.id);
    await move('stories', story.id, 'open');
    expect((await call('GET', `/api/v1/tasks/${task.id}`, undefined, 200)).sprint_id).toBeNull();
  });
});

describe('the transitions routes', () => {
  it('refuse a transition only the system takes, saying what triggers it', async () => {
    const { pbi } = await backlog(1, 1);
    const refused = await call('POST', `/api/v1/pbis/${pbi}/transitions`, { to: 'done' }, 409);
    expect(refused.error).toMatchObject({
      code: 'invalid_transition',
      details: { entity: 'PBI', from: 'ready', to: 'done', allowed: ['blocked', 'failed'] },
    });
    expect(refused.error.message).toContain('every story of the PBI reaches done');
  });

  it('refuse an edge the machine lacks with 409 naming the allowed next statuses', async () => {
    const { stories } = await backlog(1, 1);
    const refused = await call('POST', `/api/v1/tasks/${stories[0]!.tasks[0]}/transitions`, { to: 'done' }, 409);
    expect(refused.error.code).toBe('invalid_transition');
    expect(refused.error.details.allowed).toEqual(['in_progress']);
    expect(refused.error.message).toBe('task cannot go from todo to done; allowed next: in_progress');
  });

  it('refuse an unknown status with 422 listing the allowed ones', async () => {
    const { stories } = await backlog(1, 1);
    const refused = await call('POST', `/api/v1/tasks/${stories[0]!.tasks[0]}/transitions`, { to: 'finished' }, 422);
    expect(refused.error.message).toContain('must be one of todo, in_progress, review, done, failed');
  });

  it("need a sprint for a story going in_sprint, of the story's own product", async () => {
    const pbi = await call('POST', '/api/v1/pbis', { product_id: productId, title: 'P' }, 201);
    const story = await call('POST', '/api/v1/stories', { pbi_id: pbi.id, title: 'S' }, 201);
    expect((await call('POST', `/api/v1/stories/${story.id}/transitions`, { to: 'in_sprint' }, 422)).error.details.issues).toEqual([
      { path: 'sprint_id', message: 'required when the story goes in_sprint' },
    ]);
    const other = await call('POST', '/api/v1/products', { name: 'Other' }, 201);
    const foreign = await call('POST', '/api/v1/sprints', { product_id: other.id, name: 'Elsewhere' }, 201);
    await call('POST', `/api/v1/stories/${story.id}/transitions`, { to: 'in_sprint', sprint_id: foreign.id }, 422);
    expect(await statusOf('stories', story.id)).toBe('open');
  });

  it('list what a user may do and what only the system does', async () => {
    const { stories } = await backlog(1, 1);
    const task = stories[0]!.tasks[0]!;
    await move('tasks', task, 'in_progress');
    await move('tasks', task, 'review');
    expect(await call('GET', `/api/v1/tasks/${task}/valid-transitions`, undefined, 200)).toEqual({
      status: 'review',
      transitions: [
        { to: 'done', trigger: 'user_accepts', description: 'a user accepts the work' },
        { to: 'in_progress', trigger: 'user_rejects', description: 'a user sends the work back' },
        { to: 'failed', trigger: 'user_marks_failed', description: 'a user marks the task failed' },
      ],
      system_transitions: [
        { to: 'done', trigger: 'verify_passed', description: 'verification passes' },
        { to: 'in_progress', trigger: 'verify_failed', description: 'verification fails and the task is retried' },
        { to: 'failed', trigger: 'gave_up', description: 'verification gives up after retries' },
      ],
    });
  });
});

describe('task dependencies', () => {
  it('refuse a dependency that would close a cycle, naming the cycle', async () => {
    const { stories } = await backlog(1, 3);
    const [a, b, c] = stories[0]!.tasks as [string, string, string];
    await call('POST', `/api/v1/tasks/${b}/dependencies`, { depends_on_task_id: a }, 201);
    await call('POST', `/api/v1/tasks/${c}/dependencies`, { depends_on_task_id: b }, 201);
    await call('POST', `/api/v1/tasks/${c}/dependencies`, { depends_on_task_id: b }, 200);
    const refused = await call('POST', `/api/v1/tasks/${a}/dependencies`, { depends_on_task_id: c }, 422);
    expect(refused.error.details.cycle).toEqual([a, c, b, a]);
    expect(refused.error.message).toContain(`${a} -> ${c} -> ${b} -> ${a}`);
    await call('POST', `/api/v1/tasks/${a}/dependencies`, { depends_on_task_id: a }, 422);
    await call('DELETE', `/api/v1/tasks/${c}/dependencies/${b}`, undefined, 204);
    await call('POST', `/api/v1/tasks/${a}/dependencies`, { depends_on_task_id: c }, 201);
  });
});
