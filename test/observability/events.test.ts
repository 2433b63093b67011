/**
 * Live events across processes: a worker process does the work, the sweeper process relays what
 * was committed, and two separate API processes stream it, over SSE and over WebSocket, in order,
 * scoped to their tokens; a reconnect with Last-Event-ID loses nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/auth/token.repository.js';
import { type EventClient, type ReceivedEvent, sseClient, wsClient } from '../helpers/event-clients.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let apiA: string;
let apiB: string;
let alice: Record<string, string>;
let bob: Record<string, string>;
const clients: EventClient[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  const db = env.database.db;
  alice = {
    authorization: `Bearer ${(await createToken(db, { name: 'alice', ownerId: 'alice', scopes: ['read', 'write', 'enqueue'] })).secret}`,
  };
  bob = {
    authorization: `Bearer ${(await createToken(db, { name: 'bob', ownerId: 'bob', scopes: ['read', 'write', 'enqueue'] })).secret}`,
  };
  const processes = [
    spawnJobfleet(['sweeper'], env.env),
    spawnJobfleet(['worker', '--kinds', 'idea_grill,plan_chat'], env.env),
    spawnJobfleet(['api'], env.env),
    spawnJobfleet(['api'], env.env),
  ];
  await processes[0]!.line(/sweeper running/);
  await processes[1]!.line(/jobfleet worker \S+ running/);
  apiA = (await processes[2]!.line(/listening on (http:\/\/\S+)\/api\/v1/))[1]!;
  apiB = (await processes[3]!.line(/listening on (http:\/\/\S+)\/api\/v1/))[1]!;
});
afterAll(async () => {
  for (const client of clients) client.close();
  await killAll();
  await env.teardown();
});

async function call(base: string, method: string, path: string, body: unknown, headers: Record<string, string>) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as any };
}

async function newIdea(headers: Record<string, string>) {
  const product = await call(apiA, 'POST', '/api/v1/products', { name: 'Events' }, headers);
  const idea = await call(apiA, 'POST', '/api/v1/ideas', { product_id: product.body.id, title: 'Watched' }, headers);
  return { productId: product.body.id as string, ideaId: idea.body.id as string };
}

function track<T extends EventClient>(client: T): T {
  clients.push(client);
  return client;
}

const jobSequence = (events: ReceivedEvent[], jobId: string) =>
  events.filter((event) => event.data.entity === 'job' && event.data.entity_id === jobId).map((event) => `${event.type}:${event.data.to}`);

const FULL_JOB = ['transition:queued', 'transition:claimed', 'started:running', 'completed:done'];

describe('live events', () => {
  it('reach an SSE client of one API process and a WebSocket client of another, in order, from a worker process', async () => {
    const product = (await call(apiA, 'POST', '/api/v1/products', { name: 'Events' }, alice)).body;
    const sse = track(sseClient(`${apiB}/api/v1/events?product_id=${product.id}`, alice));
    const ws = track(wsClient(`${apiA.replace('http', 'ws')}/api/v1/ws?product_id=${product.id}`, alice));
    await Promise.all([sse.connected, ws.connected]);

    const idea = (await call(apiA, 'POST', '/api/v1/ideas', { product_id: product.id, title: 'Watched' }, alice)).body;
    const job = (await call(apiA, 'POST', `/api/v1/ideas/${idea.id}/grill`, {}, alice)).body;
    for (const client of [sse, ws]) {
      await client.waitFor('the idea to be grilled', (events) =>
        events.some((event) => event.data.entity === 'idea' && event.data.to === 'grilled'),
      );
      expect(jobSequence(client.events, job.id)).toEqual(FULL_JOB);
      expect(client.events.filter((event) => event.data.entity === 'idea').map((event) => event.data.to)).toEqual([
        'draft',
        'grilling',
        'grilled',
      ]);
      const ids = client.events.map((event) => BigInt(event.data.id));
      expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : 1)));
      expect(client.events.every((event) => event.data.product_id === product.id && event.data.idea_id === idea.id)).toBe(true);
    }
    expect(sse.events.map((event) => event.id)).toEqual(sse.events.map((event) => event.data.id));
    const started = sse.events.find((event) => event.type === 'started')!;
    expect(started.data).toMatchObject({
      entity: 'job',
      from: 'claimed',
      to: 'running',
      job: { id: job.id, kind: 'idea_grill', idea_id: idea.id },
    });
  });

  it('answers a WebSocket ping with pong', async () => {
    const ws = track(wsClient(`${apiA.replace('http', 'ws')}/api/v1/ws`, alice));
    await ws.connected;
    ws.socket.send(JSON.stringify({ type: 'ping' }));
    await ws.waitFor('a pong', (events) => events.some((event) => event.type === 'pong'));
  });

  it('replays what a client missed when it reconnects with Last-Event-ID', async () => {
    const { ideaId } = await newIdea(alice);
    const first = track(sseClient(`${apiA}/api/v1/events?idea_id=${ideaId}`, alice));
    await first.connected;
    const chat = (await call(apiA, 'POST', `/api/v1/ideas/${ideaId}/chat`, { message: 'One' }, alice)).body;
    await first.waitFor('the chat job to be queued', (events) => events.some((event) => event.data.entity_id === chat.id));
    const lastSeen = first.events.at(-1)!.id!;
    first.close();

    // While nobody listens, the job runs on.
    const done = async () => (await call(apiA, 'GET', `/api/v1/jobs/${chat.id}`, undefined, alice)).body.status === 'done';
    const reconnecting = track(sseClient(`${apiB}/api/v1/events?idea_id=${ideaId}`, { ...alice, 'last-event-id': lastSeen }));
    await reconnecting.connected;
    const again = (await call(apiA, 'POST', `/api/v1/ideas/${ideaId}/chat`, { message: 'Two' }, alice)).body;
    await reconnecting.waitFor('the second chat job to complete', (events) => jobSequence(events, again.id).includes('completed:done'));
    expect(await done()).toBe(true);

    const seen = [...first.events, ...reconnecting.events].map((event) => event.id!);
    expect(new Set(seen).size).toBe(seen.length);
    expect(jobSequence([...first.events, ...reconnecting.events], chat.id)).toEqual(FULL_JOB);
    expect(jobSequence(reconnecting.events, again.id)).toEqual(FULL_JOB);
  });

  it('starts a new stream asked for ?replay=N with the N most recent events it may see, then goes on live', async () => {
    const { ideaId } = await newIdea(alice);
    const chat = (await call(apiA, 'POST', `/api/v1/ideas/${ideaId}/chat`, { message: 'Before' }, alice)).body;
    const everything = track(sseClient(`${apiA}/api/v1/events?idea_id=${ideaId}&last_event_id=0`, alice));
    await everything.waitFor('the first chat job to complete', (events) => jobSequence(events, chat.id).includes('completed:done'));

    const recent = track(sseClient(`${apiB}/api/v1/events?idea_id=${ideaId}&replay=3`, alice));
    await recent.connected;
    expect(recent.events.map((event) => event.id)).toEqual(everything.events.slice(-3).map((event) => event.id));
    const again = (await call(apiA, 'POST', `/api/v1/ideas/${ideaId}/chat`, { message: 'After' }, alice)).body;
    await recent.waitFor('the second chat job to complete', (events) => jobSequence(events, again.id).includes('completed:done'));
    expect(jobSequence(recent.events, again.id)).toEqual(FULL_JOB);
    const ids = recent.events.map((event) => event.id!);
    expect(new Set(ids).size).toBe(ids.length);

    // Another owner asking for many sees none of these.
    const stranger = track(sseClient(`${apiA}/api/v1/events?replay=500`, bob));
    await stranger.connected;
    expect(stranger.events.some((event) => event.data.idea_id === ideaId)).toBe(false);
    expect(await sseClient(`${apiA}/api/v1/events?replay=501`, alice).status).toBe(422);
  });

  it("shows a token only its owner's events", async () => {
    const mine = await newIdea(bob);
    const theirs = await newIdea(alice);
    const sse = track(sseClient(`${apiA}/api/v1/events`, bob));
    await sse.connected;
    const hidden = (await call(apiA, 'POST', `/api/v1/ideas/${theirs.ideaId}/chat`, { message: 'secret' }, alice)).body;
    const visible = (await call(apiA, 'POST', `/api/v1/ideas/${mine.ideaId}/chat`, { message: 'mine' }, bob)).body;
    await sse.waitFor("bob's job to complete", (events) => jobSequence(events, visible.id).includes('completed:done'));
    // Bob's job was enqueued after Alice's; events arrive in order, so Alice's would be here by now.
    expect(sse.events.some((event) => event.data.entity_id === hidden.id || event.data.idea_id === theirs.ideaId)).toBe(false);
    expect(sse.events.every((event) => event.data.product_id === mine.productId)).toBe(true);
  });

  it('refuses anonymous and unknown callers on both streams', async () => {
    const anonymous = sseClient(`${apiA}/api/v1/events`, {});
    expect(await anonymous.status).toBe(401);
    const forged = sseClient(`${apiA}/api/v1/events`, { authorization: 'Bearer jf_nope' });
    expect(await forged.status).toBe(401);
    expect(await wsClient(`${apiA.replace('http', 'ws')}/api/v1/ws`, {}).failure).toBe(401);
    expect(await wsClient(`${apiA.replace('http', 'ws')}/api/v1/ws?access_token=jf_nope`, {}).failure).toBe(401);
    const bad = sseClient(`${apiA}/api/v1/events`, { ...alice, 'last-event-id': 'yesterday' });
    expect(await bad.status).toBe(422);
  });
});
