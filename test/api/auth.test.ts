/**
 * The auth matrix of /api/v1 against real Postgres and Redis: 401 (with WWW-Authenticate and the
 * error shape) for a missing, malformed, unknown or revoked bearer token on every documented
 * route; which scope passes which route family (admin passes all, a worker token reads jobs and
 * nothing else); and ownership: another owner's rows answer the same 404 as missing ones, stay
 * out of lists, and refuse every write without writing anything.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES, type Scope } from '../../src/auth/principal.js';
import { createToken, revokeToken } from '../../src/auth/token.repository.js';
import type { Db } from '../../src/db/database.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { idea, inTrx, pbi, planChatJob, product, rowCounts, sprint, sprintRun, step, story, task } from '../helpers/fixtures.js';
import { createIdeas } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

const MISSING_ID = '0199a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d';

/** A plan that parses: one PBI, one story, one task. */
const PLAN_MD = [
  '---',
  'pbis:',
  '  - title: Planned PBI',
  '    stories:',
  '      - title: Planned story',
  '        tasks:',
  '          - key: only',
  '            title: Planned task',
  '            implementation_plan: Do it.',
  '---',
  '',
].join('\n');

interface Reply {
  status: number;
  headers: Headers;
  body: any;
}

/** One request straight to the app, so that response headers are visible too. */
async function send(
  api: ApiHarness,
  method: string,
  path: string,
  options: { body?: unknown; authorization?: string | null } = {},
): Promise<Reply> {
  const authorization = options.authorization === undefined ? `Bearer ${api.adminSecret}` : options.authorization;
  const headers: Record<string, string> = {};
  if (authorization !== null) headers.authorization = authorization;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await api.app.request(path, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  // An event stream never ends: its status and headers are the answer.
  if (response.headers.get('content-type')?.startsWith('text/event-stream')) {
    await response.body?.cancel();
    return { status: response.status, headers: response.headers, body: null };
  }
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, headers: response.headers, body };
}

/** The one error shape: `{ error: { code, message, details, requestId } }`; returns `error`. */
function expectError(reply: Reply, status: number, code: string, what = '') {
  expect(reply.status, `${what}: ${JSON.stringify(reply.body)}`).toBe(status);
  expect(Object.keys(reply.body), what).toEqual(['error']);
  expect(Object.keys(reply.body.error).sort(), what).toEqual(['code', 'details', 'message', 'requestId']);
  expect(reply.body.error.code, what).toBe(code);
  expect(reply.body.error.message, what).toEqual(expect.any(String));
  expect(reply.body.error.message.length, what).toBeGreaterThan(0);
  expect(reply.body.error.details, what).toEqual(expect.any(Object));
  expect(Array.isArray(reply.body.error.details), what).toBe(false);
  expect(reply.body.error.requestId, what).toEqual(expect.any(String));
  expect(reply.body.error.requestId.length, what).toBeGreaterThan(0);
  return reply.body.error as { code: string; message: string; details: Record<string, unknown>; requestId: string };
}

/** Every row of a world that an owner has, for "nothing about it changed". */
async function worldRows(db: Db, world: World) {
  const ids = Object.values(world).filter((value) => /^[0-9a-f-]{36}$/.test(value));
  const tables = ['products', 'pbis', 'stories', 'tasks', 'sprints', 'sprint_runs', 'steps', 'ideas', 'claude_jobs'] as const;
  const rows: Record<string, unknown[]> = {};
  for (const table of tables) {
    rows[table] = await db
      .selectFrom(table as 'pbis')
      .selectAll()
      .where('id', 'in', ids)
      .orderBy('id')
      .execute();
  }
  rows.task_dependencies = await db
    .selectFrom('task_dependencies')
    .selectAll()
    .where('task_id', 'in', ids)
    .orderBy('task_id')
    .orderBy('depends_on_task_id')
    .execute();
  rows.idea_logs = await db.selectFrom('idea_logs').selectAll().where('idea_id', 'in', ids).orderBy('id').execute();
  rows.transitions = await db
    .selectFrom('transitions')
    .selectAll()
    .where(sql<boolean>`entity_id = ANY(${ids}::uuid[])`)
    .orderBy('id')
    .execute();
  return rows;
}

/** One owner's backlog with a row of every kind, in the statuses the routes below need. */
interface World {
  owner: string;
  product: string;
  pbi: string;
  story: string;
  task: string;
  /** A TO_DO task nothing else touches; `dependentTask` depends on it. */
  otherTask: string;
  dependentTask: string;
  sprint: string;
  /** An active sprint that the write routes close. */
  closingSprint: string;
  /** An active sprint with a planned task in it, ready to run. */
  runSprint: string;
  /** Two queued runs (on sprints of their own), and a step of the first. */
  run: string;
  run2: string;
  step: string;
  /** A draft idea with two queued jobs on it (nothing else enqueues on it). */
  jobIdea: string;
  job: string;
  job2: string;
  draftIdea: string;
  grillIdea: string;
  grilledIdea: string;
  chatIdea: string;
  planIdea: string;
}

async function seedWorld(db: Db, owner: string): Promise<World> {
  const base = await inTrx(db, async (trx) => {
    const p = await product(trx, owner);
    const b = await pbi(trx, p.id);
    const s = await story(trx, b.id);
    const [t, other, dependent] = [await task(trx, s.id), await task(trx, s.id), await task(trx, s.id)];
    const sp = await sprint(trx, p.id);
    const closing = await sprint(trx, p.id);
    const runSprint = await sprint(trx, p.id);
    await task(trx, (await story(trx, b.id, runSprint.id)).id, runSprint.id);
    const run = await sprintRun(trx, (await sprint(trx, p.id)).id);
    const run2 = await sprintRun(trx, (await sprint(trx, p.id)).id);
    const st = await step(trx, run.id);
    const jobIdea = await idea(trx, p.id);
    const job = await planChatJob(trx, jobIdea.id);
    const job2 = await planChatJob(trx, jobIdea.id);
    await trx.insertInto('task_dependencies').values({ task_id: dependent!.id, depends_on_task_id: other!.id }).execute();
    return {
      owner,
      product: p.id,
      pbi: b.id,
      story: s.id,
      task: t!.id,
      otherTask: other!.id,
      dependentTask: dependent!.id,
      sprint: sp.id,
      closingSprint: closing.id,
      runSprint: runSprint.id,
      run: run.id,
      run2: run2.id,
      step: st.id,
      jobIdea: jobIdea.id,
      job: job.id,
      job2: job2.id,
    };
  });
  const [draftIdea] = await createIdeas(db, base.product, 1, 'DRAFT');
  const [grillIdea] = await createIdeas(db, base.product, 1, 'DRAFT');
  const [grilledIdea] = await createIdeas(db, base.product, 1, 'GRILLED');
  const [chatIdea] = await createIdeas(db, base.product, 1, 'PLAN_READY');
  const [planIdea] = await createIdeas(db, base.product, 1, 'PLAN_READY');
  // plan_md is content, not a status: the plan job would have written it.
  await db.updateTable('ideas').set({ plan_md: PLAN_MD }).where('id', '=', planIdea!).execute();
  return { ...base, draftIdea: draftIdea!, grillIdea: grillIdea!, grilledIdea: grilledIdea!, chatIdea: chatIdea!, planIdea: planIdea! };
}

type Family = 'backlog read' | 'backlog write' | 'enqueue' | 'job read' | 'fleet admin';

const FAMILY_SCOPES: Record<Family, readonly Scope[]> = {
  'backlog read': ['read'],
  'backlog write': ['write'],
  enqueue: ['enqueue'],
  'job read': ['read', 'worker'],
  'fleet admin': ['admin'],
};

interface RouteCase {
  family: Family;
  method: string;
  path: (w: World) => string;
  body?: (w: World) => unknown;
  /** What the route answers a token that may use it, in a fresh world, in this order. */
  ok: number;
}

const get = (family: Family, path: (w: World) => string): RouteCase => ({ family, method: 'GET', path, ok: 200 });
const RESOURCES: [string, keyof World][] = [
  ['pbis', 'pbi'],
  ['stories', 'story'],
  ['tasks', 'task'],
  ['sprints', 'sprint'],
  ['sprint-runs', 'run'],
  ['steps', 'step'],
  ['ideas', 'draftIdea'],
];
const V1 = '/api/v1';

const ROUTES: RouteCase[] = [
  // Backlog reads.
  get('backlog read', () => `${V1}/products`),
  get('backlog read', (w) => `${V1}/products/${w.product}`),
  ...RESOURCES.flatMap(([path, key]) => [
    get('backlog read', () => `${V1}/${path}`),
    get('backlog read', (w) => `${V1}/${path}/${w[key]}`),
    get('backlog read', (w) => `${V1}/${path}/${w[key]}/history`),
    get('backlog read', (w) => `${V1}/${path}/${w[key]}/valid-transitions`),
  ]),
  get('backlog read', (w) => `${V1}/tasks/${w.dependentTask}/dependencies`),
  get('backlog read', (w) => `${V1}/sprint-runs/${w.run}/steps`),
  get('backlog read', (w) => `${V1}/ideas/${w.chatIdea}/logs`),
  // Backlog writes.
  {
    family: 'backlog write',
    method: 'POST',
    path: () => `${V1}/products`,
    body: (w) => ({ name: 'New product', owner_id: w.owner }),
    ok: 201,
  },
  {
    family: 'backlog write',
    method: 'PATCH',
    path: (w) => `${V1}/products/${w.product}`,
    body: () => ({ description: 'Edited.' }),
    ok: 200,
  },
  {
    family: 'backlog write',
    method: 'POST',
    path: () => `${V1}/pbis`,
    body: (w) => ({ product_id: w.product, title: 'New PBI' }),
    ok: 201,
  },
  { family: 'backlog write', method: 'PATCH', path: (w) => `${V1}/pbis/${w.pbi}`, body: () => ({ priority: 3 }), ok: 200 },
  { family: 'backlog write', method: 'POST', path: () => `${V1}/stories`, body: (w) => ({ pbi_id: w.pbi, title: 'New story' }), ok: 201 },
  { family: 'backlog write', method: 'PATCH', path: (w) => `${V1}/stories/${w.story}`, body: () => ({ title: 'Edited story' }), ok: 200 },
  { family: 'backlog write', method: 'POST', path: () => `${V1}/tasks`, body: (w) => ({ story_id: w.story, title: 'New task' }), ok: 201 },
  {
    family: 'backlog write',
    method: 'PATCH',
    path: (w) => `${V1}/tasks/${w.task}`,
    body: () => ({ implementation_plan: 'Edited plan.' }),
    ok: 200,
  },
  {
    family: 'backlog write',
    method: 'POST',
    path: () => `${V1}/sprints`,
    body: (w) => ({ product_id: w.product, name: 'New sprint' }),
    ok: 201,
  },
  { family: 'backlog write', method: 'PATCH', path: (w) => `${V1}/sprints/${w.sprint}`, body: () => ({ goal: 'Edited goal.' }), ok: 200 },
  {
    family: 'backlog write',
    method: 'POST',
    path: () => `${V1}/ideas`,
    body: (w) => ({ product_id: w.product, title: 'New idea' }),
    ok: 201,
  },
  {
    family: 'backlog write',
    method: 'PATCH',
    path: (w) => `${V1}/ideas/${w.draftIdea}`,
    body: () => ({ prompt_text: 'Edited.' }),
    ok: 200,
  },
  { family: 'backlog write', method: 'POST', path: (w) => `${V1}/pbis/${w.pbi}/transitions`, body: () => ({ to: 'blocked' }), ok: 200 },
  {
    family: 'backlog write',
    method: 'POST',
    path: (w) => `${V1}/stories/${w.story}/transitions`,
    body: (w) => ({ to: 'in_sprint', sprint_id: w.sprint }),
    ok: 200,
  },
  {
    family: 'backlog write',
    method: 'POST',
    path: (w) => `${V1}/tasks/${w.task}/transitions`,
    body: () => ({ to: 'in_progress' }),
    ok: 200,
  },
  {
    family: 'backlog write',
    method: 'POST',
    path: (w) => `${V1}/sprints/${w.closingSprint}/transitions`,
    body: () => ({ to: 'completed' }),
    ok: 200,
  },
  // Ideas and steps have no user transitions: a permitted token reaches the machine's 409.
  {
    family: 'backlog write',
    method: 'POST',
    path: (w) => `${V1}/ideas/${w.draftIdea}/transitions`,
    body: () => ({ to: 'grilling' }),
    ok: 409,
  },
  {
    family: 'backlog write',
    method: 'POST',
    path: (w) => `${V1}/steps/${w.step}/transitions`,
    body: () => ({ to: 'in_progress' }),
    ok: 409,
  },
  {
    family: 'backlog write',
    method: 'POST',
    path: (w) => `${V1}/tasks/${w.task}/dependencies`,
    body: (w) => ({ depends_on_task_id: w.otherTask }),
    ok: 201,
  },
  { family: 'backlog write', method: 'DELETE', path: (w) => `${V1}/tasks/${w.dependentTask}/dependencies/${w.otherTask}`, ok: 204 },
  { family: 'backlog write', method: 'POST', path: (w) => `${V1}/ideas/${w.planIdea}/materialize`, ok: 201 },
  // Enqueueing.
  { family: 'enqueue', method: 'POST', path: () => `${V1}/jobs`, body: (w) => ({ kind: 'idea_grill', idea_id: w.draftIdea }), ok: 202 },
  {
    family: 'enqueue',
    method: 'POST',
    path: () => `${V1}/jobs/batch`,
    body: (w) => ({ jobs: [{ kind: 'task_implementation', task_id: w.otherTask }] }),
    ok: 202,
  },
  { family: 'enqueue', method: 'POST', path: (w) => `${V1}/ideas/${w.grillIdea}/grill`, body: () => ({}), ok: 202 },
  { family: 'enqueue', method: 'POST', path: (w) => `${V1}/ideas/${w.grilledIdea}/plan`, body: () => ({ guidance: 'Small.' }), ok: 202 },
  { family: 'enqueue', method: 'POST', path: (w) => `${V1}/ideas/${w.chatIdea}/chat`, body: () => ({ message: 'Shorter?' }), ok: 202 },
  { family: 'enqueue', method: 'POST', path: (w) => `${V1}/jobs/${w.job}/cancel`, body: () => ({ reason: 'not needed' }), ok: 200 },
  { family: 'enqueue', method: 'POST', path: (w) => `${V1}/jobs/${w.job2}/transitions`, body: () => ({ to: 'cancelled' }), ok: 200 },
  // Sprint runs are started and steered by enqueue tokens (principal.ts: "enqueue and cancel jobs (... sprint runs)").
  { family: 'enqueue', method: 'POST', path: (w) => `${V1}/sprints/${w.runSprint}/runs`, body: () => ({ mode: 'per_task' }), ok: 202 },
  // A queued run cannot pause or resume: a permitted token reaches the machine's 409.
  { family: 'enqueue', method: 'POST', path: (w) => `${V1}/sprint-runs/${w.run}/pause`, body: () => ({}), ok: 409 },
  { family: 'enqueue', method: 'POST', path: (w) => `${V1}/sprint-runs/${w.run}/resume`, body: () => ({}), ok: 409 },
  { family: 'enqueue', method: 'POST', path: (w) => `${V1}/sprint-runs/${w.run}/cancel`, body: () => ({ reason: 'not now' }), ok: 200 },
  { family: 'enqueue', method: 'POST', path: (w) => `${V1}/sprint-runs/${w.run2}/transitions`, body: () => ({ to: 'cancelled' }), ok: 200 },
  // Job reads.
  get('job read', () => `${V1}/jobs`),
  get('job read', (w) => `${V1}/jobs/${w.job}`),
  get('job read', (w) => `${V1}/jobs/${w.job}/history`),
  get('job read', (w) => `${V1}/jobs/${w.job}/valid-transitions`),
  get('job read', () => `${V1}/providers`),
  // Providers' pauses and owners' budgets are the fleet's: only admins change them.
  { family: 'fleet admin', method: 'POST', path: () => `${V1}/providers/never-met/resume`, ok: 404 },
  { family: 'fleet admin', method: 'PUT', path: (w) => `${V1}/owners/${w.owner}/budget`, body: () => ({ daily_usd: 25 }), ok: 200 },
  { family: 'fleet admin', method: 'PUT', path: (w) => `${V1}/owners/${w.owner}/budget`, body: () => ({ daily_usd: null }), ok: 200 },
  { family: 'fleet admin', method: 'DELETE', path: (w) => `${V1}/owners/${w.owner}/budget`, ok: 200 },
];

const FAMILIES = Object.keys(FAMILY_SCOPES) as Family[];

const passes = (scope: Scope, family: Family) => scope === 'admin' || FAMILY_SCOPES[family].includes(scope);

/**
 * The family of any route, from its method and path: reads of jobs (their questions, the fleet, its
 * providers and budgets) accept read or worker; other reads are backlog reads; enqueueing, steering
 * jobs and sprint runs, and schedules (which enqueue) is enqueue; resuming a provider and setting a budget is for admins; every
 * other write is a backlog write.
 */
function familyOf(method: string, documentedPath: string): Family {
  const path = documentedPath.replace(/^\/api\/v1/, '');
  if (method === 'GET') return /^\/(jobs|workers|stats|events|questions|providers|owners)(\/|$)/.test(path) ? 'job read' : 'backlog read';
  // Schedules enqueue: making, changing and deleting one is steering jobs.
  if (/^\/schedules(\/|$)/.test(path)) return 'enqueue';
  if (/^\/(providers|owners)\//.test(path)) return 'fleet admin';
  if (
    /^\/jobs(\/|$)/.test(path) ||
    /^\/ideas\/\{id\}\/(grill|plan|chat)$/.test(path) ||
    /^\/sprints\/\{id\}\/runs$/.test(path) ||
    /^\/sprint-runs\//.test(path)
  ) {
    return 'enqueue';
  }
  return 'backlog write';
}

async function documentedOperations(api: ApiHarness) {
  const doc = await send(api, 'GET', `${V1}/openapi.json`, { authorization: null });
  expect(doc.status).toBe(200);
  return Object.entries(doc.body.paths as Record<string, Record<string, { requestBody?: unknown }>>).flatMap(([template, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase(),
      template,
      path: template.replace(/\{[^}]+\}/g, MISSING_ID),
      hasBody: op.requestBody !== undefined,
    })),
  );
}

describe('authentication', () => {
  let env: TestEnv;
  let api: ApiHarness;
  let operations: Awaited<ReturnType<typeof documentedOperations>>;

  beforeAll(async () => {
    env = await createTestEnv();
    api = await createApiHarness(env);
    operations = await documentedOperations(api);
  });
  afterAll(async () => {
    await api?.close();
    await env?.teardown();
  });

  /** Every documented operation answers 401 with the challenge and the error shape, and writes nothing. */
  async function expectEveryRouteRefuses(authorization: string | null, label: string) {
    expect(operations.length).toBeGreaterThanOrEqual(60);
    const before = await rowCounts(env.database.db);
    for (const op of operations) {
      // A body that would fail validation: authentication comes first.
      const reply = await send(api, op.method, op.path, { authorization, ...(op.hasBody ? { body: { not_a_field: true } } : {}) });
      const what = `${label}: ${op.method} ${op.path}`;
      expectError(reply, 401, 'unauthorized', what);
      expect(reply.headers.get('www-authenticate'), what).toMatch(/^Bearer\b/);
    }
    expect(await rowCounts(env.database.db)).toEqual(before);
  }

  it('serves the OpenAPI document without a token', async () => {
    const reply = await send(api, 'GET', `${V1}/openapi.json`, { authorization: null });
    expect(reply.status).toBe(200);
    expect(reply.body.openapi).toBe('3.1.0');
    expect(Object.keys(reply.body.paths)).toContain('/api/v1/jobs');
  });

  it('answers 401 with a Bearer challenge on every documented route when no token is sent', async () => {
    await expectEveryRouteRefuses(null, 'no Authorization header');
  });

  it.each([
    ['an empty header', ''],
    ['the scheme alone', 'Bearer'],
    ['the scheme and blanks', 'Bearer    '],
    ['a Basic credential', 'Basic dXNlcjpwYXNz'],
    ['another scheme', 'Token abcdef'],
    ['two tokens', 'Bearer abc def'],
  ])('answers 401 with a Bearer challenge on every documented route for a malformed header: %s', async (label, header) => {
    await expectEveryRouteRefuses(header, label);
  });

  it('answers 401 when a valid admin secret is sent without the Bearer scheme', async () => {
    await expectEveryRouteRefuses(api.adminSecret, 'secret without scheme');
  });

  it('answers 401 with a Bearer challenge on every documented route for a token that does not exist', async () => {
    await expectEveryRouteRefuses(`Bearer ${api.adminSecret}x`, 'unknown token');
    await expectEveryRouteRefuses('Bearer jf_0000000000000000000000000000000000000000', 'unknown token');
  });

  it('answers 401 with a Bearer challenge on every documented route for a revoked token', async () => {
    const { token, secret } = await createToken(env.database.db, { name: 'to revoke', ownerId: 'owner-a', scopes: ['admin'] });
    expect(await revokeToken(env.database.db, token.id)).toBe(true);
    await expectEveryRouteRefuses(`Bearer ${secret}`, 'revoked token');
  });

  it('refuses a token revoked after it was used, once an API instance looks it up again', async () => {
    const { token, secret } = await createToken(env.database.db, { name: 'used then revoked', ownerId: 'owner-a', scopes: ['read'] });
    expect((await send(api, 'GET', `${V1}/products`, { authorization: `Bearer ${secret}` })).status).toBe(200);
    expect(await revokeToken(env.database.db, token.id)).toBe(true);

    // A fresh API instance has no cached principal: it must see the revocation at once.
    const fresh = await createApiHarness(env);
    try {
      const reply = await send(fresh, 'GET', `${V1}/products`, { authorization: `Bearer ${secret}` });
      expectError(reply, 401, 'unauthorized');
      expect(reply.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
    } finally {
      await fresh.close();
    }
  });

  it('accepts the scheme in any letter case', async () => {
    expect((await send(api, 'GET', `${V1}/products`, { authorization: `bearer ${api.adminSecret}` })).status).toBe(200);
    expect((await send(api, 'GET', `${V1}/products`, { authorization: `BEARER ${api.adminSecret}` })).status).toBe(200);
  });
});

describe('scopes', () => {
  let env: TestEnv;
  let api: ApiHarness;
  const secrets = new Map<Scope, string>();

  beforeAll(async () => {
    env = await createTestEnv();
    api = await createApiHarness(env);
    for (const scope of SCOPES) secrets.set(scope, await api.token([scope], 'owner-a'));
  });
  afterAll(async () => {
    await api?.close();
    await env?.teardown();
  });

  it('covers every route family with several routes', () => {
    for (const family of FAMILIES) expect(ROUTES.filter((route) => route.family === family).length, family).toBeGreaterThanOrEqual(4);
  });

  it('refuses every documented route with 403 to exactly the scopes its family lacks, whatever the route', async () => {
    const operations = await documentedOperations(api);
    expect(operations.length).toBeGreaterThanOrEqual(60);
    const before = await rowCounts(env.database.db);
    const wrong: string[] = [];
    for (const op of operations) {
      const family = familyOf(op.method, op.template);
      for (const scope of SCOPES) {
        // Ids that exist nowhere: a permitted token gets past the scope check to a 404 or 422.
        const reply = await send(api, op.method, op.path, {
          authorization: `Bearer ${secrets.get(scope)}`,
          ...(op.hasBody ? { body: {} } : {}),
        });
        const allowed = passes(scope, family);
        const ok = allowed
          ? reply.status !== 401 && reply.status !== 403 && reply.status < 500
          : reply.status === 403 && reply.body?.error?.code === 'forbidden';
        if (!ok) wrong.push(`${scope} ${op.method} ${op.template} (${family}): ${reply.status} ${JSON.stringify(reply.body)}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(await rowCounts(env.database.db)).toEqual(before);
  });

  const matrix = SCOPES.flatMap((scope) => FAMILIES.map((family) => ({ scope, family, allowed: passes(scope, family) })));

  it.each(matrix.filter((cell) => cell.allowed))(
    'lets a token with only the $scope scope through every $family route',
    async ({ scope, family }) => {
      const world = await seedWorld(env.database.db, 'owner-a');
      const answers: string[] = [];
      const expected: string[] = [];
      for (const route of ROUTES.filter((r) => r.family === family)) {
        const path = route.path(world);
        const reply = await send(api, route.method, path, { authorization: `Bearer ${secrets.get(scope)}`, body: route.body?.(world) });
        const label = `${route.method} ${path.replaceAll(/[0-9a-f-]{36}/g, '{id}')}`;
        answers.push(`${label} -> ${reply.status}${reply.status !== route.ok ? ` ${JSON.stringify(reply.body)}` : ''}`);
        expected.push(`${label} -> ${route.ok}`);
      }
      expect(answers).toEqual(expected);
    },
  );

  it.each(matrix.filter((cell) => !cell.allowed))(
    'refuses a token with only the $scope scope on every $family route with 403 naming the scope it needs, and writes nothing',
    async ({ scope, family }) => {
      const db = env.database.db;
      const world = await seedWorld(db, 'owner-a');
      const before = await rowCounts(db);
      const rowsBefore = await worldRows(db, world);
      for (const route of ROUTES.filter((r) => r.family === family)) {
        const path = route.path(world);
        const reply = await send(api, route.method, path, { authorization: `Bearer ${secrets.get(scope)}`, body: route.body?.(world) });
        const error = expectError(reply, 403, 'forbidden', `${scope} ${route.method} ${path}`);
        for (const needed of FAMILY_SCOPES[family]) expect(error.message, `${route.method} ${path}`).toMatch(new RegExp(`\\b${needed}\\b`));
      }
      expect(await rowCounts(db)).toEqual(before);
      expect(await worldRows(db, world)).toEqual(rowsBefore);
    },
  );

  it('refuses a token without the scope with 403 before it looks at the body', async () => {
    const reply = await send(api, 'POST', `${V1}/jobs`, {
      authorization: `Bearer ${secrets.get('read')}`,
      body: { kind: 'no_such_kind', bogus: 1 },
    });
    expectError(reply, 403, 'forbidden');
  });

  it("lets a worker token read any owner's jobs and nothing of the backlog", async () => {
    const db = env.database.db;
    const [mine, theirs] = [await seedWorld(db, 'owner-a'), await seedWorld(db, 'owner-b')];
    const worker = `Bearer ${await api.token(['worker'], 'fleet')}`;
    for (const world of [mine, theirs]) {
      for (const suffix of ['', '/history', '/valid-transitions']) {
        const reply = await send(api, 'GET', `${V1}/jobs/${world.job}${suffix}`, { authorization: worker });
        expect(reply.status, `${world.owner} ${suffix}`).toBe(200);
      }
    }
    const list = await send(api, 'GET', `${V1}/jobs?limit=200`, { authorization: worker });
    expect(list.status).toBe(200);
    const listed = list.body.items.map((job: { id: string }) => job.id);
    for (const id of [mine.job, mine.job2, theirs.job, theirs.job2]) expect(listed).toContain(id);

    const before = await rowCounts(db);
    const refused = [
      ['GET', `${V1}/products/${theirs.product}`],
      ['GET', `${V1}/ideas/${theirs.jobIdea}`],
      ['GET', `${V1}/tasks`],
      ['POST', `${V1}/jobs/${theirs.job}/cancel`, {}],
      ['POST', `${V1}/jobs`, { kind: 'idea_grill', idea_id: theirs.draftIdea }],
      ['PATCH', `${V1}/tasks/${theirs.task}`, { title: 'by a worker' }],
      ['POST', `${V1}/tasks/${theirs.task}/transitions`, { to: 'in_progress' }],
    ] as const;
    for (const [method, path, body] of refused) {
      expectError(await send(api, method, path, { authorization: worker, body }), 403, 'forbidden', `${method} ${path}`);
    }
    expect(await rowCounts(db)).toEqual(before);
  });
});

describe('ownership', () => {
  let env: TestEnv;
  let api: ApiHarness;
  let db: Db;
  let alice: World;
  let bob: World;
  let aliceToken: string;

  beforeAll(async () => {
    env = await createTestEnv();
    api = await createApiHarness(env);
    db = env.database.db;
    alice = await seedWorld(db, 'alice');
    bob = await seedWorld(db, 'bob');
    aliceToken = `Bearer ${await api.token(['read', 'write', 'enqueue'], 'alice')}`;
  });
  afterAll(async () => {
    await api?.close();
    await env?.teardown();
  });

  const asAlice = (method: string, path: string, body?: unknown) => send(api, method, path, { authorization: aliceToken, body });

  /** Bob's row (by GET path) and the path of a row that does not exist at all. */
  const readCases = (w: World): [string, string, string][] => [
    ['product', `${V1}/products/${w.product}`, `${V1}/products/${MISSING_ID}`],
    ['PBI', `${V1}/pbis/${w.pbi}`, `${V1}/pbis/${MISSING_ID}`],
    ['story', `${V1}/stories/${w.story}`, `${V1}/stories/${MISSING_ID}`],
    ['task', `${V1}/tasks/${w.task}`, `${V1}/tasks/${MISSING_ID}`],
    ['sprint', `${V1}/sprints/${w.sprint}`, `${V1}/sprints/${MISSING_ID}`],
    ['sprint run', `${V1}/sprint-runs/${w.run}`, `${V1}/sprint-runs/${MISSING_ID}`],
    ['step', `${V1}/steps/${w.step}`, `${V1}/steps/${MISSING_ID}`],
    ['idea', `${V1}/ideas/${w.jobIdea}`, `${V1}/ideas/${MISSING_ID}`],
    ['job', `${V1}/jobs/${w.job}`, `${V1}/jobs/${MISSING_ID}`],
  ];

  it("answers 404 to every GET of another owner's row, the same answer a missing id gets", async () => {
    for (const [noun, hidden, missing] of readCases(bob)) {
      for (const suffix of noun === 'product' ? [''] : ['', '/history', '/valid-transitions']) {
        const hiddenReply = await asAlice('GET', hidden + suffix);
        const missingReply = await asAlice('GET', missing + suffix);
        const hiddenError = expectError(hiddenReply, 404, 'not_found', `${noun} ${suffix}`);
        const missingError = expectError(missingReply, 404, 'not_found', `${noun} missing ${suffix}`);
        expect(hiddenError.code).toBe(missingError.code);
        const hiddenId = hidden.split('/').at(-1)!;
        // Nothing in the answer tells "not yours" from "not there".
        expect(hiddenError.message.replaceAll(hiddenId, '<id>'), `${noun} ${suffix}`).toBe(
          missingError.message.replaceAll(MISSING_ID, '<id>'),
        );
        expect(Object.keys(hiddenError.details).sort()).toEqual(Object.keys(missingError.details).sort());
      }
    }
    for (const path of [
      `${V1}/tasks/${bob.dependentTask}/dependencies`,
      `${V1}/ideas/${bob.chatIdea}/logs`,
      `${V1}/sprint-runs/${bob.run}/steps`,
    ]) {
      expectError(await asAlice('GET', path), 404, 'not_found', path);
    }
  });

  it("answers 200 to the same GETs of the owner's own rows", async () => {
    for (const [noun, own] of readCases(alice)) {
      const reply = await asAlice('GET', own);
      expect(reply.status, noun).toBe(200);
      expect(reply.body.id).toBe(own.split('/').at(-1));
    }
  });

  it("leaves another owner's rows out of every list, even when filtered by that owner's parents", async () => {
    const lists: [string, (keyof World)[]][] = [
      [`${V1}/products`, ['product']],
      [`${V1}/pbis`, ['pbi']],
      [`${V1}/stories`, ['story']],
      [`${V1}/tasks`, ['task', 'otherTask', 'dependentTask']],
      [`${V1}/sprints`, ['sprint', 'closingSprint', 'runSprint']],
      [`${V1}/sprint-runs`, ['run', 'run2']],
      [`${V1}/steps`, ['step']],
      [`${V1}/ideas`, ['jobIdea', 'draftIdea', 'grillIdea', 'grilledIdea', 'chatIdea', 'planIdea']],
      [`${V1}/jobs`, ['job', 'job2']],
    ];
    for (const [path, keys] of lists) {
      const reply = await asAlice('GET', `${path}?limit=200`);
      expect(reply.status, path).toBe(200);
      const ids = reply.body.items.map((item: { id: string }) => item.id);
      for (const key of keys) {
        expect(ids, `${path} lists alice's ${key}`).toContain(alice[key]);
        expect(ids, `${path} hides bob's ${key}`).not.toContain(bob[key]);
      }
    }
    const filtered = [
      `${V1}/products?owner_id=bob`,
      `${V1}/pbis?product_id=${bob.product}`,
      `${V1}/stories?pbi_id=${bob.pbi}`,
      `${V1}/tasks?story_id=${bob.story}`,
      `${V1}/sprints?product_id=${bob.product}`,
      `${V1}/ideas?product_id=${bob.product}`,
      `${V1}/steps?sprint_run_id=${bob.run}`,
      `${V1}/jobs?idea_id=${bob.jobIdea}`,
      `${V1}/jobs?subject_id=${bob.jobIdea}`,
    ];
    for (const path of filtered) {
      const reply = await asAlice('GET', path);
      expect(reply.status, path).toBe(200);
      expect(reply.body.items, path).toEqual([]);
    }
  });

  it("answers 404 to every write aimed at another owner's rows and writes nothing", async () => {
    const writes: [string, string, unknown?][] = [
      ['PATCH', `${V1}/products/${bob.product}`, { name: 'Taken over' }],
      ['PATCH', `${V1}/pbis/${bob.pbi}`, { title: 'Taken over' }],
      ['PATCH', `${V1}/stories/${bob.story}`, { title: 'Taken over' }],
      ['PATCH', `${V1}/tasks/${bob.task}`, { title: 'Taken over' }],
      ['PATCH', `${V1}/sprints/${bob.sprint}`, { name: 'Taken over' }],
      ['PATCH', `${V1}/ideas/${bob.draftIdea}`, { title: 'Taken over' }],
      ['POST', `${V1}/pbis/${bob.pbi}/transitions`, { to: 'blocked' }],
      ['POST', `${V1}/stories/${bob.story}/transitions`, { to: 'in_sprint', sprint_id: bob.sprint }],
      ['POST', `${V1}/tasks/${bob.task}/transitions`, { to: 'in_progress' }],
      ['POST', `${V1}/sprints/${bob.closingSprint}/transitions`, { to: 'completed' }],
      ['POST', `${V1}/sprint-runs/${bob.run}/transitions`, { to: 'cancelled' }],
      ['POST', `${V1}/sprint-runs/${bob.run}/cancel`, {}],
      ['POST', `${V1}/sprint-runs/${bob.run}/pause`, {}],
      ['POST', `${V1}/sprint-runs/${bob.run}/resume`, {}],
      ['POST', `${V1}/sprints/${bob.runSprint}/runs`, { mode: 'per_task' }],
      ['POST', `${V1}/ideas/${bob.draftIdea}/transitions`, { to: 'grilling' }],
      ['POST', `${V1}/steps/${bob.step}/transitions`, { to: 'in_progress' }],
      ['POST', `${V1}/jobs`, { kind: 'idea_grill', idea_id: bob.draftIdea }],
      ['POST', `${V1}/jobs`, { kind: 'task_implementation', task_id: bob.otherTask }],
      ['POST', `${V1}/jobs`, { kind: 'sprint_implementation', sprint_run_id: bob.run }],
      [
        'POST',
        `${V1}/jobs/batch`,
        {
          jobs: [
            { kind: 'idea_grill', idea_id: alice.draftIdea },
            { kind: 'idea_grill', idea_id: bob.draftIdea },
          ],
        },
      ],
      ['POST', `${V1}/ideas/${bob.grillIdea}/grill`, {}],
      ['POST', `${V1}/ideas/${bob.grilledIdea}/plan`, {}],
      ['POST', `${V1}/ideas/${bob.chatIdea}/chat`, { message: 'Hello?' }],
      ['POST', `${V1}/ideas/${bob.planIdea}/materialize`],
      ['POST', `${V1}/jobs/${bob.job}/cancel`, {}],
      ['POST', `${V1}/jobs/${bob.job2}/transitions`, { to: 'cancelled' }],
      ['POST', `${V1}/pbis`, { product_id: bob.product, title: 'Under bob' }],
      ['POST', `${V1}/sprints`, { product_id: bob.product, name: 'Under bob' }],
      ['POST', `${V1}/ideas`, { product_id: bob.product, title: 'Under bob' }],
      ['POST', `${V1}/stories`, { pbi_id: bob.pbi, title: 'Under bob' }],
      ['POST', `${V1}/tasks`, { story_id: bob.story, title: 'Under bob' }],
      ['POST', `${V1}/tasks/${bob.task}/dependencies`, { depends_on_task_id: bob.otherTask }],
      ['POST', `${V1}/tasks/${alice.task}/dependencies`, { depends_on_task_id: bob.otherTask }],
      ['DELETE', `${V1}/tasks/${bob.dependentTask}/dependencies/${bob.otherTask}`],
      // Alice's own story into bob's sprint.
      ['POST', `${V1}/stories/${alice.story}/transitions`, { to: 'in_sprint', sprint_id: bob.sprint }],
    ];
    const before = await rowCounts(db);
    const bobBefore = await worldRows(db, bob);
    const aliceBefore = await worldRows(db, alice);
    for (const [method, path, body] of writes) {
      expectError(await asAlice(method, path, body), 404, 'not_found', `${method} ${path}`);
    }
    expect(await rowCounts(db)).toEqual(before);
    expect(await worldRows(db, bob)).toEqual(bobBefore);
    expect(await worldRows(db, alice)).toEqual(aliceBefore);
  });

  it("lets an admin read and list both owners' rows", async () => {
    for (const world of [alice, bob]) {
      for (const [noun, path] of readCases(world)) {
        const reply = await send(api, 'GET', path);
        expect(reply.status, `${world.owner} ${noun}`).toBe(200);
      }
    }
    for (const [path, key] of [
      [`${V1}/products`, 'product'],
      [`${V1}/tasks`, 'task'],
      [`${V1}/ideas`, 'jobIdea'],
      [`${V1}/jobs`, 'job'],
    ] as const) {
      const reply = await send(api, 'GET', `${path}?limit=200`);
      expect(reply.status).toBe(200);
      const ids = reply.body.items.map((item: { id: string }) => item.id);
      expect(ids, path).toContain(alice[key]);
      expect(ids, path).toContain(bob[key]);
    }
  });

  it('refuses a non-admin creating a product for another owner with 403, and writes nothing', async () => {
    const before = await rowCounts(db);
    expectError(await asAlice('POST', `${V1}/products`, { name: 'For bob', owner_id: 'bob' }), 403, 'forbidden');
    expect(await rowCounts(db)).toEqual(before);

    const own = await asAlice('POST', `${V1}/products`, { name: 'For me' });
    expect(own.status).toBe(201);
    expect(own.body.owner_id).toBe('alice');
  });

  it('makes an admin name the owner of a new product: 422 without owner_id, 201 with it', async () => {
    const before = await rowCounts(db);
    const error = expectError(await send(api, 'POST', `${V1}/products`, { body: { name: 'Whose?' } }), 422, 'validation_failed');
    expect(error.message).toContain('owner_id');
    expect(await rowCounts(db)).toEqual(before);

    const created = await send(api, 'POST', `${V1}/products`, { body: { name: 'For bob', owner_id: 'bob' } });
    expect(created.status).toBe(201);
    expect(created.body.owner_id).toBe('bob');
  });
});
