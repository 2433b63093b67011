/**
 * The OpenAPI document is generated from the same schemas the routes validate with; this checks
 * that no route escaped it and that it describes auth and errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let api: ApiHarness;
let document: {
  paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>>;
  components: { securitySchemes: Record<string, unknown> };
};
beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  const response = await api.call('GET', '/api/v1/openapi.json', undefined, { authorization: '' });
  expect(response.status).toBe(200);
  document = response.body;
});
afterAll(async () => {
  await api.close();
  await env.teardown();
});

/** Every route the app serves under /api/v1, as "METHOD /path/{param}". */
function servedRoutes(): string[] {
  const routes = api.app.routes
    .filter((route) => route.path.startsWith('/api/v1/') && route.method !== 'ALL' && route.path !== '/api/v1/openapi.json')
    .map((route) => `${route.method} ${route.path.replace('/api/v1', '').replace(/:(\w+)/g, '{$1}')}`);
  return [...new Set(routes)].sort();
}

function documentedRoutes(): string[] {
  return Object.entries(document.paths)
    .flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path.replace('/api/v1', '')}`))
    .sort();
}

describe('the OpenAPI document', () => {
  it('lists every route the API serves, and nothing it does not', () => {
    const served = servedRoutes();
    expect(served.length).toBeGreaterThan(40);
    expect(documentedRoutes()).toEqual(served);
  });

  it('covers the jobs, the backlog, the idea flow and the transitions of every entity', () => {
    const documented = documentedRoutes();
    for (const route of [
      'POST /jobs',
      'POST /jobs/batch',
      'POST /ideas/{id}/grill',
      'POST /ideas/{id}/plan',
      'POST /ideas/{id}/chat',
      'POST /ideas/{id}/materialize',
      'POST /tasks/{id}/dependencies',
      'DELETE /tasks/{id}/dependencies/{depends_on_task_id}',
      'GET /questions',
      'GET /jobs/{id}/questions',
      'POST /jobs/{id}/questions/{question_id}/answer',
    ]) {
      expect(documented).toContain(route);
    }
    for (const resource of ['pbis', 'stories', 'tasks', 'sprints', 'sprint-runs', 'steps', 'ideas', 'jobs']) {
      expect(documented).toContain(`GET /${resource}/{id}/history`);
      expect(documented).toContain(`GET /${resource}/{id}/valid-transitions`);
      expect(documented).toContain(`POST /${resource}/{id}/transitions`);
    }
  });

  it("describes answering a question: its body, its answer and the refusals (404, 409 question_closed, 422), and a job's progress", () => {
    const answer = document.paths['/api/v1/jobs/{id}/questions/{question_id}/answer']!.post as any;
    expect(Object.keys(answer.responses)).toEqual(expect.arrayContaining(['200', '404', '409', '422']));
    expect(answer.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Answer' });
    expect(answer.parameters.map((parameter: { name: string }) => parameter.name).sort()).toEqual(['id', 'question_id']);
    const schemas = (document.components as any).schemas;
    expect(schemas.Question.properties.status.enum).toEqual(['open', 'answered', 'closed']);
    expect(schemas.Error.properties.error.properties.code.enum).toEqual(expect.arrayContaining(['question_closed']));
    expect(schemas.Job.properties).toHaveProperty('progress');
  });

  it('declares bearer auth on every route, with its 401 and 403', () => {
    expect(document.components.securitySchemes).toHaveProperty('bearer');
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        expect(operation.security, `${method} ${path}`).toEqual([{ bearer: [] }]);
        expect(Object.keys(operation.responses), `${method} ${path}`).toEqual(expect.arrayContaining(['401', '403']));
      }
    }
  });
});
