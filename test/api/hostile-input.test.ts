/**
 * Requests an attacker would send to one API process (in-process, through `app.request`): JSON
 * nested deep enough to exhaust a recursive walker, cross-site writes riding on a browser's Basic
 * login, and reads of other owners' jobs through the fleet list and Bull Board.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDashboardToken } from '../../src/auth/token.repository.js';
import { MAX_JSON_DEPTH } from '../../src/api/unstorable-input.middleware.js';
import { claimJobs } from '../../src/jobs/claim-jobs.js';
import { KINDS } from '../../src/queues/kinds.js';
import { registerWorker } from '../../src/workers/worker-registry.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { inTrx, rowCounts } from '../helpers/fixtures.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

const LOGIN = { user: 'ops', password: 'ops-password-123' };
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const DASHBOARD = basic(LOGIN.user, LOGIN.password);

/** `levels` arrays nested in each other: `[[[...]]]`. */
const nestedArrays = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
/** An object whose `inner` holds `levels` more levels of objects. */
const nestedObject = (levels: number): unknown => (levels === 0 ? 'leaf' : { inner: nestedObject(levels - 1) });

let env: TestEnv;
let api: ApiHarness;

beforeAll(async () => {
  env = await createTestEnv();
  const tokenId = await ensureDashboardToken(env.database.db);
  api = await createApiHarness(env, { dashboard: { user: LOGIN.user, password: LOGIN.password, tokenId } });
});
afterAll(async () => {
  await api?.close();
  await env?.teardown();
});

describe('deeply nested JSON', () => {
  it(`refuses a body nested deeper than ${MAX_JSON_DEPTH} levels with 400 naming the limit, and writes nothing`, async () => {
    const before = await rowCounts(env.database.db);
    const deepField = JSON.stringify({ name: 'P', x: nestedObject(MAX_JSON_DEPTH) });
    const tooDeep = [nestedArrays(10_000), nestedArrays(MAX_JSON_DEPTH + 1), deepField];
    for (const body of tooDeep) {
      const reply = await api.call('POST', '/api/v1/products', body);
      expect(reply.status).toBe(400);
      expect(reply.body.error).toMatchObject({ code: 'bad_request', details: { max_depth: MAX_JSON_DEPTH } });
      expect(reply.body.error.message).toContain(`${MAX_JSON_DEPTH} levels`);
    }
    expect(await rowCounts(env.database.db)).toEqual(before);
  });

  it(`lets a body nested exactly ${MAX_JSON_DEPTH} levels through to validation`, async () => {
    // The body is level 1; `extra` holds the other 63. No route takes such a field: the validator names it.
    const reply = await api.call('POST', '/api/v1/products', { name: 'P', extra: nestedObject(MAX_JSON_DEPTH - 1) });
    expect(reply.status).toBe(422);
    expect(reply.body.error.details.issues).toEqual([expect.objectContaining({ message: expect.stringContaining('extra') })]);
  });

  it('answers 401 to an unauthenticated caller before it reads the body', async () => {
    // A body that never ends: a server that read it before authenticating would never answer.
    const endless = new ReadableStream({ start: (controller) => controller.enqueue(new TextEncoder().encode('['.repeat(10_000))) });
    const response = await api.app.request('/api/v1/products', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      body: endless,
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(401);
    expect(((await response.json()) as any).error.code).toBe('unauthorized');
  });

  it('never answers 500 to a deeply nested body sent to a public path', async () => {
    const reply = await api.call('POST', '/api/v1/openapi.json', nestedArrays(10_000), { authorization: '' });
    expect(reply.status).toBe(404);
    expect(reply.body.error.code).toBe('not_found');
  });
});

describe('cross-site requests with the browser login', () => {
  const EVIL = 'https://evil.example';

  it('refuses an API write with Basic credentials from another origin with 403, and writes nothing', async () => {
    const before = await rowCounts(env.database.db);
    const crossSite: Record<string, string>[] = [{ origin: EVIL }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }];
    for (const headers of crossSite) {
      const forged = { name: 'Forged', owner_id: 'admin' };
      const reply = await api.call('POST', '/api/v1/products', forged, { ...headers, authorization: DASHBOARD });
      expect(reply.status).toBe(403);
      expect(reply.body.error).toMatchObject({ code: 'forbidden' });
      expect(reply.body.error.message).toContain('cross-site');
    }
    expect(await rowCounts(env.database.db)).toEqual(before);
  });

  it("accepts the same write from the server's own origin, and reads from anywhere", async () => {
    const create = (headers: Record<string, string>) => api.call('POST', '/api/v1/products', { name: 'Mine', owner_id: 'admin' }, headers);
    expect((await create({ authorization: DASHBOARD, origin: 'http://localhost' })).status).toBe(201);
    expect((await create({ authorization: DASHBOARD, 'sec-fetch-site': 'same-origin' })).status).toBe(201);
    expect((await api.call('GET', '/api/v1/products', undefined, { authorization: DASHBOARD, origin: EVIL })).status).toBe(200);
  });

  it('refuses a cross-origin text/plain job add to Bull Board with 403 and adds nothing', async () => {
    const queue = api.queues.all().find((candidate) => candidate.name === KINDS.PLAN_CHAT.queue)!;
    const before = await queue.count();
    const forged = await api.app.request(`/admin/queues/api/queues/${KINDS.PLAN_CHAT.queue}/add`, {
      method: 'POST',
      headers: { authorization: DASHBOARD, origin: EVIL, 'content-type': 'text/plain' },
      body: JSON.stringify({ name: 'forged', data: { forged: true } }),
    });
    expect(forged.status).toBe(403);
    expect(((await forged.json()) as any).error.code).toBe('forbidden');
    expect(await queue.count()).toBe(before);

    const own = await api.app.request(`/admin/queues/api/queues/${KINDS.PLAN_CHAT.queue}/add`, {
      method: 'POST',
      headers: { authorization: DASHBOARD, origin: 'http://localhost', 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'by hand', data: {} }),
    });
    expect(own.status).toBe(200);
    expect(await queue.count()).toBe(before + 1);
  });
});

describe('the browser login', () => {
  it('lets the dashboard login in with Basic auth, but not as a bearer token', async () => {
    expect((await api.call('GET', '/api/v1/products', undefined, { authorization: DASHBOARD })).status).toBe(200);
    for (const wrong of [basic(LOGIN.user, `${LOGIN.password}x`), basic(`${LOGIN.user}x`, LOGIN.password)]) {
      expect((await api.call('GET', '/api/v1/products', undefined, { authorization: wrong })).status).toBe(401);
    }
    const bearer = await api.call('GET', '/api/v1/products', undefined, { authorization: `Bearer ${LOGIN.user}:${LOGIN.password}` });
    expect(bearer.status).toBe(401);
  });
});

describe("other owners' jobs", () => {
  const chatJob = async (ideaId: string): Promise<string> =>
    (await api.call('POST', '/api/v1/jobs', { kind: 'plan_chat', idea_id: ideaId, payload: { message: 'secret' } })).body.id;

  it('lists on /workers only the running jobs a read token may see; admins and workers see all', async () => {
    const db = env.database.db;
    const [ideaA] = await createIdeas(db, await createProduct(db, 'owner-a'), 1, 'PLAN_READY');
    const [ideaB] = await createIdeas(db, await createProduct(db, 'owner-b'), 1, 'PLAN_READY');
    const jobA = await chatJob(ideaA!);
    const jobB = await chatJob(ideaB!);
    const worker = await registerWorker(db, { kinds: ['PLAN_CHAT'], concurrency: 2, version: 'test' });
    const { claimed } = await inTrx(db, (trx) => claimJobs(trx, [jobA, jobB], worker, { leaseMs: 600_000, start: true }));
    expect(claimed).toHaveLength(2);

    const currentJobs = async (authorization: string) => {
      const reply = await api.call('GET', '/api/v1/workers', undefined, { authorization });
      expect(reply.status).toBe(200);
      const row = reply.body.items.find((item: any) => item.id === worker.workerId);
      return (row.current_jobs as { id: string }[]).map((job) => job.id).sort();
    };
    expect(await currentJobs(`Bearer ${await api.token(['read'], 'owner-a')}`)).toEqual([jobA]);
    expect(await currentJobs(`Bearer ${await api.token(['read'], 'owner-b')}`)).toEqual([jobB]);
    expect(await currentJobs(`Bearer ${await api.token(['read'], 'owner-c')}`)).toEqual([]);
    expect(await currentJobs(`Bearer ${api.adminSecret}`)).toEqual([jobA, jobB].sort());
    expect(await currentJobs(`Bearer ${await api.token(['worker'], 'system')}`)).toEqual([jobA, jobB].sort());
  });

  it('shows Bull Board, and each job in it, only to admins and worker tokens', async () => {
    const db = env.database.db;
    const [idea] = await createIdeas(db, await createProduct(db, 'owner-b'), 1, 'PLAN_READY');
    const job = await chatJob(idea!);
    const paths = ['/admin/queues', '/admin/queues/api/queues', `/admin/queues/api/queues/${KINDS.PLAN_CHAT.queue}/${job}`];
    const reader = await api.token(['read', 'write', 'enqueue'], 'owner-a');
    for (const path of paths) {
      for (const authorization of [`Bearer ${reader}`, basic('someone', reader)]) {
        const response = await api.app.request(path, { headers: { authorization } });
        expect(response.status, `${path} as a reader`).toBe(403);
        expect(((await response.json()) as any).error.code).toBe('forbidden');
      }
      for (const authorization of [`Bearer ${api.adminSecret}`, `Bearer ${await api.token(['worker'], 'system')}`, DASHBOARD]) {
        expect((await api.app.request(path, { headers: { authorization } })).status, path).toBe(200);
      }
    }
  });
});
