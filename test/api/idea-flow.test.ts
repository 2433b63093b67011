/**
 * The idea flow over HTTP, with a real worker process and the dry-run agent: draft -> grill ->
 * plan -> chat -> materialize, and the failure paths with their retries (a grill that fails, a
 * plan that does not parse).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

let env: TestEnv;
let api: ApiHarness;
let auth: { authorization: string };
let productId: string;
beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  auth = { authorization: `Bearer ${await api.token(['read', 'write', 'enqueue'], 'alice')}` };
  const worker = spawnJobfleet(['worker', '--kinds', 'idea_grill,idea_make_plan,plan_chat'], env.env);
  await worker.line(/jobfleet worker \S+ running/);
  productId = (await call('POST', '/api/v1/products', { name: 'Reports' }, 201)).id;
});
afterAll(async () => {
  await killAll();
  await api.close();
  await env.teardown();
});

async function call(method: string, path: string, body: unknown, expected: number) {
  const response = await api.call(method, path, body, auth);
  expect(response.status, `${method} ${path}: ${JSON.stringify(response.body)}`).toBe(expected);
  return response.body;
}

async function settled(jobId: string) {
  return waitFor(`job ${jobId} to finish`, async () => {
    const job = await call('GET', `/api/v1/jobs/${jobId}`, undefined, 200);
    return ['done', 'failed', 'cancelled'].includes(job.status) ? job : undefined;
  });
}

const idea = (id: string) => call('GET', `/api/v1/ideas/${id}`, undefined, 200);
const logTypes = async (id: string) =>
  (await call('GET', `/api/v1/ideas/${id}/logs`, undefined, 200)).items.map((entry: { type: string }) => entry.type);

describe('the idea flow', () => {
  it('goes from draft through grill, plan and chat to a materialized backlog', async () => {
    const created = await call(
      'POST',
      '/api/v1/ideas',
      { product_id: productId, title: 'CSV export', prompt_text: 'Users want their reports as CSV.' },
      201,
    );
    expect(created.status).toBe('draft');

    const grill = await call('POST', `/api/v1/ideas/${created.id}/grill`, {}, 202);
    expect(grill).toMatchObject({ kind: 'idea_grill', status: 'queued', idea_id: created.id });
    expect((await idea(created.id)).status).toBe('grilling');
    expect((await settled(grill.id)).status).toBe('done');
    const grilled = await idea(created.id);
    expect(grilled.status).toBe('grilled');
    expect(grilled.grill_md).toContain('[dry run] Grill of "CSV export"');

    const plan = await call('POST', `/api/v1/ideas/${created.id}/plan`, { guidance: 'Keep it small.' }, 202);
    expect((await settled(plan.id)).status).toBe('done');
    const planned = await idea(created.id);
    expect(planned).toMatchObject({ status: 'plan_ready', plan_errors: null });
    expect(planned.plan_md).toContain('pbis:');

    const chat = await call('POST', `/api/v1/ideas/${created.id}/chat`, { message: 'Does this need a feature flag?' }, 202);
    expect((await settled(chat.id)).status).toBe('done');
    expect(await logTypes(created.id)).toEqual(['grill_result', 'plan_result', 'chat_message', 'chat_reply']);

    const tree = await call('POST', `/api/v1/ideas/${created.id}/materialize`, undefined, 201);
    expect(tree.idea.status).toBe('planned');
    expect(tree.pbis).toHaveLength(1);
    const [pbi] = tree.pbis;
    expect(pbi).toMatchObject({ product_id: productId, status: 'ready', title: '[dry run] CSV export' });
    const tasks = pbi.stories[0].tasks;
    expect(tasks.map((task: { title: string; status: string }) => [task.title, task.status])).toEqual([
      ['[dry run] Lay the groundwork', 'todo'],
      ['[dry run] Build the feature', 'todo'],
    ]);
    const dependencies = await call('GET', `/api/v1/tasks/${tasks[1].id}/dependencies`, undefined, 200);
    expect(dependencies.items.map((task: { id: string }) => task.id)).toEqual([tasks[0].id]);

    const listed = await call('GET', `/api/v1/pbis?product_id=${productId}`, undefined, 200);
    expect(listed.items.map((item: { id: string }) => item.id)).toContain(pbi.id);
    await call('POST', `/api/v1/ideas/${created.id}/materialize`, undefined, 409);
    const history = await call('GET', `/api/v1/ideas/${created.id}/history`, undefined, 200);
    expect(history.items.map((entry: { to: string }) => entry.to)).toEqual([
      'draft',
      'grilling',
      'grilled',
      'planning',
      'plan_ready',
      'planned',
    ]);
  });

  it('retries a plan that did not parse, keeping the errors in the log', async () => {
    const created = await call(
      'POST',
      '/api/v1/ideas',
      { product_id: productId, title: 'Bad plan', prompt_text: 'Plan badly [dry-run:invalid-plan]' },
      201,
    );
    await settled((await call('POST', `/api/v1/ideas/${created.id}/grill`, {}, 202)).id);
    const failedJob = await settled((await call('POST', `/api/v1/ideas/${created.id}/plan`, {}, 202)).id);
    expect(failedJob).toMatchObject({ status: 'failed', error: { code: 'plan_invalid' } });

    const failed = await idea(created.id);
    expect(failed.status).toBe('plan_failed');
    expect(failed.plan_errors).toEqual(['pbis[0].stories: stories must be a list']);
    const logs = (await call('GET', `/api/v1/ideas/${created.id}/logs`, undefined, 200)).items;
    expect(logs.at(-1)).toMatchObject({ type: 'job_event', job_id: failedJob.id });
    expect(logs.at(-1).content).toContain('pbis[0].stories: stories must be a list');
    await call('POST', `/api/v1/ideas/${created.id}/materialize`, undefined, 409);

    await call('PATCH', `/api/v1/ideas/${created.id}`, { prompt_text: 'Plan well this time.' }, 200);
    const retry = await settled((await call('POST', `/api/v1/ideas/${created.id}/plan`, {}, 202)).id);
    expect(retry.status).toBe('done');
    expect(await idea(created.id)).toMatchObject({ status: 'plan_ready', plan_errors: null });
    expect((await call('POST', `/api/v1/ideas/${created.id}/materialize`, undefined, 201)).idea.status).toBe('planned');
  });

  it('retries a grill that failed', async () => {
    const created = await call(
      'POST',
      '/api/v1/ideas',
      { product_id: productId, title: 'Doomed', prompt_text: 'This will not work [dry-run:fail]' },
      201,
    );
    const failedJob = await settled((await call('POST', `/api/v1/ideas/${created.id}/grill`, {}, 202)).id);
    expect(failedJob).toMatchObject({ status: 'failed', error: { code: 'agent_failed' } });
    expect((await idea(created.id)).status).toBe('grill_failed');
    await call('POST', `/api/v1/ideas/${created.id}/plan`, {}, 409);

    await call('PATCH', `/api/v1/ideas/${created.id}`, { prompt_text: 'This will work.' }, 200);
    expect((await settled((await call('POST', `/api/v1/ideas/${created.id}/grill`, {}, 202)).id)).status).toBe('done');
    expect((await idea(created.id)).status).toBe('grilled');
  });

  it("leaves the idea's phases to the system: a user transition says what triggers it", async () => {
    const created = await call('POST', '/api/v1/ideas', { product_id: productId, title: 'Hands off' }, 201);
    const valid = await call('GET', `/api/v1/ideas/${created.id}/valid-transitions`, undefined, 200);
    expect(valid).toEqual({
      status: 'draft',
      transitions: [],
      system_transitions: [{ to: 'grilling', trigger: 'grill_enqueued', description: 'POST /ideas/{id}/grill enqueues an IDEA_GRILL job' }],
    });
    const refused = await call('POST', `/api/v1/ideas/${created.id}/transitions`, { to: 'grilling' }, 409);
    expect(refused.error.code).toBe('invalid_transition');
    expect(refused.error.message).toContain('POST /ideas/{id}/grill enqueues an IDEA_GRILL job');
  });
});
