/**
 * A replay from Last-Event-ID reads a bounded number of history rows: from an id within the bound
 * it sends everything after it, from an older one the newest rows of the bound only, filters
 * applied to those rows as to any replay. A replay cut short says so first (replay_truncated),
 * over SSE and WebSocket alike; one that is not says nothing of the kind.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/auth/token.repository.js';
import type { EventHub } from '../../src/events/event-hub.js';
import { MAX_REPLAY_ROWS, openEventStream, type ReplayTruncated } from '../../src/events/event-stream.js';
import type { EventFilter, FleetEvent } from '../../src/events/fleet-event.js';
import { type EventClient, sseClient, wsClient } from '../helpers/event-clients.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let ideas: string[];
/** Every history row, oldest first. */
let history: { id: string; entity_id: string }[];

/** No live events: these streams replay only. */
const quietHub: EventHub = { subscribe: () => () => {}, closed: new Promise(() => {}), close: async () => {} };

beforeAll(async () => {
  env = await createTestEnv();
  const db = env.database.db;
  ideas = await createIdeas(db, await createProduct(db), 6, 'GRILLED');
  history = await db.selectFrom('transitions').select(['id', 'entity_id']).orderBy('id').execute();
});
afterAll(async () => {
  for (const client of clients) client.close();
  await killAll();
  await env.teardown();
});

const clients: EventClient[] = [];

/** What a replay sends, in order: event ids, and the notice of a truncated replay as `truncated after/resumes_after`. */
async function replayed(lastEventId: string, maxReplay: number, filter: EventFilter = {}): Promise<string[]> {
  const sent: string[] = [];
  const stop = await openEventStream({
    db: env.database.db,
    hub: quietHub,
    filter,
    audience: () => true,
    lastEventId,
    maxReplay,
    send: (event: FleetEvent) => void sent.push(event.id!),
    sendTruncated: (notice: ReplayTruncated) => void sent.push(`truncated ${notice.after}/${notice.resumes_after}`),
  });
  stop();
  return sent;
}

/** The events a replay sends, without the notice. */
const replay = async (lastEventId: string, maxReplay: number, filter: EventFilter = {}) =>
  (await replayed(lastEventId, maxReplay, filter)).filter((sent) => !sent.startsWith('truncated'));

describe('a replay from Last-Event-ID', () => {
  it('sends every event after an id within its bound', async () => {
    expect(history.length).toBeGreaterThan(10);
    const from = history.at(-5)!.id;
    expect(await replay(from, 10)).toEqual(history.slice(-4).map((row) => row.id));
    expect(await replay('0', history.length)).toEqual(history.map((row) => row.id));
  });

  it('sends only the newest rows of its bound after an older id, in order', async () => {
    expect(await replay('0', 5)).toEqual(history.slice(-5).map((row) => row.id));
    expect(await replay(history[2]!.id, 7)).toEqual(history.slice(-7).map((row) => row.id));
  });

  it('filters the rows of its bound, and finds nothing older', async () => {
    const newestIdea = history.at(-1)!.entity_id;
    const oldestIdea = ideas.find((id) => id !== newestIdea && history.slice(-4).every((row) => row.entity_id !== id))!;
    const bound = 4;
    const window = history.slice(-bound);
    expect(await replay('0', bound, { idea_id: newestIdea })).toEqual(
      window.filter((row) => row.entity_id === newestIdea).map((row) => row.id),
    );
    expect(await replay('0', bound, { idea_id: oldestIdea })).toEqual([]);
    // Unbounded enough, the same filter finds the idea's events.
    expect((await replay('0', history.length, { idea_id: oldestIdea })).length).toBeGreaterThan(0);
  });
});

describe('a replay cut short', () => {
  it('says so before its events, naming the Last-Event-ID and the id it resumes after; a whole replay does not', async () => {
    const floor = history.at(-6)!.id;
    expect(await replayed(history[1]!.id, 5)).toEqual([`truncated ${history[1]!.id}/${floor}`, ...history.slice(-5).map((row) => row.id)]);
    // Exactly the bound behind: nothing skipped, no notice.
    expect(await replayed(floor, 5)).toEqual(history.slice(-5).map((row) => row.id));
    // A filter that passes none of the replayed rows still gets the notice: it may have missed some.
    expect(await replayed('0', 2, { idea_id: '00000000-0000-4000-8000-000000000000' })).toEqual([`truncated 0/${history.at(-3)!.id}`]);
  });

  it('is told first over SSE and over WebSocket, each in its own framing', async () => {
    const db = env.database.db;
    // More history than a replay reads: the rows of a product's idea, owned by the token's owner.
    const [idea] = await createIdeas(db, await createProduct(db, 'replayer'), 1, 'DRAFT');
    await sql`
      INSERT INTO transitions (entity_type, entity_id, from_status, to_status, trigger)
      SELECT 'IDEA', ${idea}::uuid, 'DRAFT', 'DRAFT', 'test' FROM generate_series(1, ${MAX_REPLAY_ROWS + 10})
    `.execute(db);
    const ids = (
      await db
        .selectFrom('transitions')
        .select('id')
        .orderBy('id', 'desc')
        .limit(MAX_REPLAY_ROWS + 1)
        .execute()
    ).map((row) => row.id);
    const floor = ids.at(-1)!;
    const old = history[0]!.id;
    const headers = {
      authorization: `Bearer ${(await createToken(db, { name: 'replayer', ownerId: 'replayer', scopes: ['read'] })).secret}`,
    };
    const api = spawnJobfleet(['api'], env.env);
    const base = (await api.line(/listening on (http:\/\/\S+)\/api\/v1/))[1]!;
    const open = (lastEventId: string) => {
      const sse = sseClient(`${base}/api/v1/events?idea_id=${idea}`, { ...headers, 'last-event-id': lastEventId });
      const ws = wsClient(`${base.replace('http', 'ws')}/api/v1/ws?idea_id=${idea}&last_event_id=${lastEventId}`, headers);
      clients.push(sse, ws);
      return [sse, ws];
    };

    for (const client of open(old)) {
      await client.connected;
      expect(client.events[0]).toMatchObject({
        type: 'replay_truncated',
        data: { type: 'replay_truncated', after: old, resumes_after: floor },
      });
      expect(client.events[0]!.id).toBeUndefined();
      expect(client.events.slice(1).map((event) => event.id)).toEqual([...ids.slice(0, -1)].reverse());
      client.close();
    }

    const recent = ids[3]!;
    for (const client of open(recent)) {
      await client.connected;
      expect(client.events.map((event) => event.type)).toEqual(['transition', 'transition', 'transition']);
      client.close();
    }
  });
});
