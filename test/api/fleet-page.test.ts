/**
 * The fleet page as the server sends it (the browser tests drive it in Chromium): the questions
 * section and running jobs in the HTML, and a script that reads and answers questions through the
 * API routes that exist and listens for the notices the stream sends; owners and schedules read
 * from their APIs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, createApiHarness } from '../helpers/api-harness.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let api: ApiHarness;
beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
});
afterAll(async () => {
  await api.close();
  await env.teardown();
});

describe('the fleet page', () => {
  it('has a questions section and a running-jobs table', async () => {
    const page = await api.call('GET', '/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('<section id="questions-section">');
    expect(page.body).toContain('<ol id="questions">');
    expect(page.body).toContain('<table id="running">');
  });

  it('reads open questions, answers them and listens for progress and question notices', async () => {
    const script = await api.call('GET', '/fleet.js');
    expect(script.status).toBe(200);
    expect(script.body).toContain('/api/v1/questions?status=open');
    // Its answer forms are the module it shares with the job page.
    expect(script.body).toContain("from './questions.js'");
    const forms = await api.call('GET', '/questions.js');
    expect(forms.status).toBe(200);
    expect(forms.body).toContain('/api/v1/jobs/${question.job_id}/questions/${question.id}/answer');
    for (const notice of ['progress', 'question_asked', 'question_answered', 'question_closed'])
      expect(script.body).toContain(`'${notice}'`);
    // The routes it calls are served.
    expect((await api.call('GET', '/api/v1/questions?status=open')).status).toBe(200);
  });

  it('has a providers section fed by the providers API, resumes through it, and listens for provider events and budget notices', async () => {
    const page = await api.call('GET', '/');
    expect(page.body).toContain('<section id="providers-section">');
    expect(page.body).toContain('<table id="providers">');
    const script = (await api.call('GET', '/fleet.js')).body as string;
    expect(script).toContain("getJson('/api/v1/providers')");
    expect(script).toContain('/api/v1/providers/${encodeURIComponent(provider.name)}/resume');
    for (const type of ['provider_paused', 'provider_resumed', 'budget_exceeded']) expect(script).toContain(`'${type}'`);
  });

  it('has owners and schedules sections, read from the owners and schedules APIs without naming an owner', async () => {
    const page = (await api.call('GET', '/')).body as string;
    expect(page).toContain('<section id="owners-section">');
    expect(page).toContain('<section id="schedules-section">');
    expect((await api.call('GET', '/fleet.js')).body).toContain("from './fleet-shares.js'");
    const script = await api.call('GET', '/fleet-shares.js');
    expect(script.status).toBe(200);
    expect(script.body).toContain("fetch('/api/v1/owners'");
    expect(script.body).toContain("fetch('/api/v1/schedules'");
    expect((await api.call('GET', '/fleet-shares.js', undefined, { authorization: '' })).status).toBe(401);
  });

  it('offers the resume button to admins only', async () => {
    expect((await api.call('GET', '/')).body).toMatch(/<body data-admin="true"[ >]/);
    const reader = await api.call('GET', '/', undefined, { authorization: `Bearer ${await api.token(['read'])}` });
    expect(reader.status).toBe(200);
    expect(reader.body).toMatch(/<body data-admin="false"[ >]/);
    const worker = await api.call('GET', '/', undefined, { authorization: `Bearer ${await api.token(['worker'], 'system')}` });
    expect(worker.body).toMatch(/<body data-admin="false"[ >]/);
  });
});
