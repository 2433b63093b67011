/**
 * The event stream's kind, status and owner filters: the replay (?replay=N and Last-Event-ID) and
 * the live events both carry exactly the events of an unfiltered stream that pass every filter
 * given; a read token naming another owner gets nothing of theirs; unknown values are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/auth/token.repository.js';
import { type EventClient, type ReceivedEvent, sseClient } from '../helpers/event-clients.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

const ADMIN = { authorization: 'Bearer event-filters-admin-0123' };
let env: TestEnv;
let base: string;
let alice: Record<string, string>;
let bob: Record<string, string>;
const clients: EventClient[] = [];

beforeAll(async () => {
  env = await createTestEnv({ ADMIN_TOKEN: 'event-filters-admin-0123' });
  const db = env.database.db;
  const scopes = ['read', 'write', 'enqueue'] as const;
  alice = { authorization: `Bearer ${(await createToken(db, { name: 'alice', ownerId: 'alice', scopes: [...scopes] })).secret}` };
  bob = { authorization: `Bearer ${(await createToken(db, { name: 'bob', ownerId: 'bob', scopes: [...scopes] })).secret}` };
  const fleet = spawnJobfleet(['start', '--kinds', 'idea_grill,plan_chat'], env.env);
  base = (await fleet.line(/Fleet:\s+(http:\/\/\S+)\//))[1]!;
});
afterAll(async () => {
  for (const client of clients) client.close();
  await killAll();
  await env.teardown();
});

async function call(method: string, path: string, body: unknown, headers: Record<string, string>) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as any };
}

function stream(query: string, headers: Record<string, string> = ADMIN) {
  const client = sseClient(`${base}/api/v1/events?${query}`, headers);
  clients.push(client);
  return client;
}

/** One owner's idea, grilled (idea_grill) and, for Alice, chatted about (plan_chat); resolves with the job ids once all are done. */
async function work(headers: Record<string, string>, chat: boolean) {
  const product = (await call('POST', '/api/v1/products', { name: 'Filtered' }, headers)).body;
  const idea = (await call('POST', '/api/v1/ideas', { product_id: product.id, title: 'Watched' }, headers)).body;
  const grill = (await call('POST', `/api/v1/ideas/${idea.id}/grill`, {}, headers)).body;
  const talk = chat ? (await call('POST', `/api/v1/ideas/${idea.id}/chat`, { message: 'Hello?' }, headers)).body : null;
  for (const job of [grill, talk].filter(Boolean)) {
    await waitFor(
      `job ${job.id} to be done`,
      async () => (await call('GET', `/api/v1/jobs/${job.id}`, undefined, headers)).body.status === 'done',
    );
  }
  return { productId: product.id as string, grill: grill.id as string, chat: (talk?.id ?? null) as string | null };
}

type Event = ReceivedEvent['data'];
const ids = (events: ReceivedEvent[]) => events.map((event) => event.id);

/** What each filter lets through, said in the event's own terms (alice's and bob's products stand for their owners). */
function predicates(products: { alice: Set<string>; bob: Set<string> }) {
  return {
    'kind=plan_chat': (event: Event) => event.job?.kind === 'plan_chat',
    'status=done': (event: Event) => event.to === 'done',
    'kind=idea_grill,plan_chat&status=running,done': (event: Event) =>
      ['idea_grill', 'plan_chat'].includes(event.job?.kind) && ['running', 'done'].includes(event.to),
    'owner_id=bob': (event: Event) => products.bob.has(event.product_id),
    'kind=idea_grill&status=done&owner_id=alice': (event: Event) =>
      event.job?.kind === 'idea_grill' && event.to === 'done' && products.alice.has(event.product_id),
  } as const;
}

describe('event filters', () => {
  it('narrow the replay, from ?replay=N and from Last-Event-ID alike', async () => {
    const mine = await work(alice, true);
    const theirs = await work(bob, false);
    const everything = stream('last_event_id=0');
    await everything.connected;
    const all = everything.events;
    expect(all.some((event) => event.data.entity === 'idea')).toBe(true);
    expect(all.some((event) => event.data.entity === 'job' && event.data.job.kind === 'plan_chat')).toBe(true);

    for (const [query, passes] of Object.entries(predicates({ alice: new Set([mine.productId]), bob: new Set([theirs.productId]) }))) {
      const expected = ids(all.filter((event) => passes(event.data)));
      expect(expected.length, query).toBeGreaterThan(0);
      for (const from of ['replay=500', 'last_event_id=0']) {
        const filtered = stream(`${from}&${query}`);
        // The replay is sent before `connected`.
        await filtered.connected;
        expect(ids(filtered.events), `${from}&${query}`).toEqual(expected);
      }
    }
    const chatDone = stream('replay=1&kind=plan_chat&status=done');
    await chatDone.connected;
    expect(chatDone.events.map((event) => event.data.entity_id)).toEqual([mine.chat]);

    // A read token names another owner: still only ever its own events, so none.
    const peeking = stream('replay=500&owner_id=bob', alice);
    await peeking.connected;
    expect(peeking.events).toEqual([]);
    const own = stream('replay=500&owner_id=alice&kind=idea_grill', alice);
    await own.connected;
    expect(new Set(own.events.map((event) => event.data.entity_id))).toEqual(new Set([mine.grill]));
  });

  it('narrow the live events the same way', async () => {
    const everything = stream('');
    const queries = Object.keys(predicates({ alice: new Set(), bob: new Set() }));
    const live = new Map(queries.map((query) => [query, stream(query)]));
    const peeking = stream('owner_id=bob', alice);
    const own = stream('owner_id=alice&status=done', alice);
    await Promise.all([everything.connected, peeking.connected, own.connected, ...[...live.values()].map((client) => client.connected)]);

    const [mine, theirs] = await Promise.all([work(alice, true), work(bob, false)]);
    const jobs = [mine.grill, mine.chat, theirs.grill];
    await everything.waitFor('every job to be done', (events) =>
      jobs.every((id) => events.some((event) => event.data.entity_id === id && event.data.to === 'done')),
    );
    const all = everything.events;
    const passing = predicates({ alice: new Set([mine.productId]), bob: new Set([theirs.productId]) });
    for (const [query, client] of live) {
      const expected = ids(all.filter((event) => passing[query as keyof typeof passing](event.data)));
      expect(expected.length, query).toBeGreaterThan(0);
      // Events reach each stream in id order: once the last expected one is here, any stray would be too.
      await client.waitFor(`${query}: its last event`, (events) => events.some((event) => event.id === expected.at(-1)));
      expect(ids(client.events), query).toEqual(expected);
    }
    await own.waitFor("alice's jobs to be done", (events) =>
      [mine.grill, mine.chat].every((id) => events.some((event) => event.data.entity_id === id)),
    );
    expect(own.events.every((event) => event.data.to === 'done' && event.data.product_id === mine.productId)).toBe(true);
    // Bob's events went out with Alice's: none reached her stream that names him.
    expect(peeking.events).toEqual([]);
  });

  it('refuse an unknown kind or status, and an empty owner, with validation_failed', async () => {
    for (const [query, field] of [
      ['kind=nope', 'kind'],
      ['kind=idea_grill,nope', 'kind'],
      ['kind=', 'kind'],
      ['status=finished', 'status'],
      ['status=DONE', 'status'],
      ['owner_id=', 'owner_id'],
    ] as const) {
      const response = await fetch(`${base}/api/v1/events?${query}`, { headers: { ...ADMIN, accept: 'text/event-stream' } });
      expect(response.status, query).toBe(422);
      const body = (await response.json()) as any;
      expect(body.error.code, query).toBe('validation_failed');
      expect(JSON.stringify(body.error.details), query).toContain(field);
    }
  });

  it('are documented in the OpenAPI document', async () => {
    const document = (await call('GET', '/api/v1/openapi.json', undefined, ADMIN)).body;
    const parameters = document.paths['/api/v1/events'].get.parameters.map((parameter: { name: string }) => parameter.name);
    expect(parameters).toEqual(expect.arrayContaining(['kind', 'status', 'owner_id', 'replay']));
    // The refusal it documents is the one it gives (above): 422, not 400.
    const events = document.paths['/api/v1/events'].get;
    expect(events.description).toContain('422 validation_failed');
    expect(events.description).not.toMatch(/\b400\b/);
    expect(Object.keys(events.responses)).toEqual(expect.arrayContaining(['200', '422']));
  });
});
