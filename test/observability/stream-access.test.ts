/**
 * Who may keep listening, against real API and sweeper processes: a stream whose token is revoked
 * is closed within the authenticator's cache window; a worker token hears job events only; a
 * WebSocket handshake from another site's page is refused. And what a real server answers that
 * no route sees: headers too large for Node's parser, and the dashboard login used as a bearer.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken, revokeToken } from '../../src/auth/token.repository.js';
import { type EventClient, type ReceivedEvent, sseClient, wsClient } from '../helpers/event-clients.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

const LOGIN = { user: 'ops', password: 'ops-password-123' };
const OLD_DASHBOARD_HASH = createHash('sha256').update(`${LOGIN.user}:${LOGIN.password}`).digest('hex');

let env: TestEnv;
let api: string;
const clients: EventClient[] = [];

beforeAll(async () => {
  env = await createTestEnv({ DASHBOARD_USER: LOGIN.user, DASHBOARD_PASSWORD: LOGIN.password });
  // What earlier versions stored for the dashboard login: an unsalted SHA-256 of user:password.
  await env.database.db
    .insertInto('api_tokens')
    .values({ name: 'DASHBOARD', owner_id: 'admin', scopes: ['admin'], token_hash: OLD_DASHBOARD_HASH, token_prefix: 'basic' })
    .execute();
  const sweeper = spawnJobfleet(['sweeper'], env.env);
  const apiProcess = spawnJobfleet(['api'], env.env);
  await sweeper.line(/sweeper running/);
  api = (await apiProcess.line(/listening on (http:\/\/\S+)\/api\/v1/))[1]!;
});
afterAll(async () => {
  for (const client of clients) client.close();
  await killAll();
  await env.teardown();
});

function track<T extends EventClient>(client: T): T {
  clients.push(client);
  return client;
}

async function token(name: string, owner: string, scopes: string[]) {
  const { token: row, secret } = await createToken(env.database.db, { name, ownerId: owner, scopes });
  return { id: row.id, headers: { authorization: `Bearer ${secret}` } };
}

async function call(method: string, path: string, body: unknown, headers: Record<string, string>) {
  const response = await fetch(`${api}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as any };
}

/** A raw GET, so that headers no fetch implementation would send can be sent. */
function rawGet(path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${api}${path}`, { headers }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const ws = (path: string) => `${api.replace('http', 'ws')}${path}`;

describe('revoked tokens', () => {
  it('closes SSE and WebSocket streams once their token is revoked, within the cache window, and sends nothing after', async () => {
    const revoked = await token('to revoke', 'alice', ['read', 'write']);
    const kept = await token('kept', 'alice', ['read', 'write']);
    const product = (await call('POST', '/api/v1/products', { name: 'Watched' }, kept.headers)).body;
    const sse = track(sseClient(`${api}/api/v1/events?product_id=${product.id}`, revoked.headers));
    const socket = track(wsClient(ws(`/api/v1/ws?product_id=${product.id}`), revoked.headers));
    const control = track(sseClient(`${api}/api/v1/events?product_id=${product.id}`, kept.headers));
    await Promise.all([sse.connected, socket.connected, control.connected]);
    const before = (await call('POST', '/api/v1/ideas', { product_id: product.id, title: 'Before' }, kept.headers)).body;
    const sawIdea = (id: string) => (events: ReceivedEvent[]) => events.some((event) => event.data.entity_id === id);
    for (const client of [sse, socket]) await client.waitFor('the first idea', sawIdea(before.id));

    expect(await revokeToken(env.database.db, revoked.id)).toBe(true);
    await sse.ended;
    expect(await socket.closed).toEqual({ code: 1008, reason: 'the token was revoked' });

    const after = (await call('POST', '/api/v1/ideas', { product_id: product.id, title: 'After' }, kept.headers)).body;
    await control.waitFor('the second idea', sawIdea(after.id));
    for (const client of [sse, socket]) expect(client.events.some((event) => event.data.entity_id === after.id)).toBe(false);
    // And the revoked token opens nothing new.
    expect(await sseClient(`${api}/api/v1/events`, revoked.headers).status).toBe(401);
    expect(await wsClient(ws('/api/v1/ws'), revoked.headers).failure).toBe(401);
  });
});

describe('worker tokens', () => {
  it("hear every owner's job events and none of their backlog events", async () => {
    const worker = await token('a worker', 'system', ['worker']);
    const alice = await token('alice', 'alice', ['read', 'write', 'enqueue']);
    const sse = track(sseClient(`${api}/api/v1/events`, worker.headers));
    const socket = track(wsClient(ws('/api/v1/ws'), worker.headers));
    const own = track(sseClient(`${api}/api/v1/events`, alice.headers));
    await Promise.all([sse.connected, socket.connected, own.connected]);

    const product = (await call('POST', '/api/v1/products', { name: 'Private' }, alice.headers)).body;
    const idea = (await call('POST', '/api/v1/ideas', { product_id: product.id, title: 'Secret plan' }, alice.headers)).body;
    const job = (await call('POST', `/api/v1/ideas/${idea.id}/grill`, {}, alice.headers)).body;
    const reached = (id: string, to: string) => (events: ReceivedEvent[]) =>
      events.some((event) => event.data.entity_id === id && event.data.to === to);
    await own.waitFor('the idea to be grilling', reached(idea.id, 'grilling'));
    for (const client of [sse, socket]) {
      await client.waitFor('the job to be queued', reached(job.id, 'queued'));
      expect(client.events.filter((event) => event.data.entity !== 'job')).toEqual([]);
    }
    // The owner's own stream has the backlog events the worker's did not get.
    expect(own.events.some((event) => event.data.entity === 'idea')).toBe(true);
  });
});

describe('cross-site WebSocket handshakes', () => {
  it("refuses a handshake from another origin with 403 in the error shape, and accepts the server's own", async () => {
    const reader = await token('reader', 'alice', ['read']);
    const refusal = await new Promise<{ status: number; body: any }>((resolve, reject) => {
      const socket = new WebSocket(ws('/api/v1/ws'), { headers: { ...reader.headers, origin: 'https://evil.example' } });
      socket.on('error', () => {});
      socket.on('open', () => reject(new Error('the handshake was accepted')));
      socket.on('unexpected-response', (_request, response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(body) }));
      });
    });
    expect(refusal.status).toBe(403);
    expect(refusal.body.error).toMatchObject({ code: 'forbidden', details: {} });
    expect(refusal.body.error.message).toContain('https://evil.example');
    expect(typeof refusal.body.error.requestId).toBe('string');

    const own = track(wsClient(ws('/api/v1/ws'), { ...reader.headers, origin: api }));
    await own.connected;
  });
});

describe('the HTTP server', () => {
  it("answers request headers too large for Node's parser with 431 in the error shape", async () => {
    const reply = await rawGet('/api/v1/products', { 'x-padding': 'x'.repeat(20_000) });
    expect(reply.status).toBe(431);
    const body = JSON.parse(reply.body);
    expect(body.error).toMatchObject({ code: 'headers_too_large', details: { max_header_bytes: expect.any(Number) } });
    expect(typeof body.error.requestId).toBe('string');
  });

  it('keeps the dashboard login off the bearer path, also when an earlier version stored its hash', async () => {
    const basic = `Basic ${Buffer.from(`${LOGIN.user}:${LOGIN.password}`).toString('base64')}`;
    expect((await call('GET', '/api/v1/products', undefined, { authorization: basic })).status).toBe(200);
    const bearer = await call('GET', '/api/v1/products', undefined, { authorization: `Bearer ${LOGIN.user}:${LOGIN.password}` });
    expect(bearer.status).toBe(401);
    expect(bearer.body.error.code).toBe('unauthorized');
    const db = env.database.db;
    const oldRow = await db.selectFrom('api_tokens').select('revoked_at').where('token_hash', '=', OLD_DASHBOARD_HASH).executeTakeFirst();
    expect(oldRow?.revoked_at).toBeInstanceOf(Date);
  });
});
