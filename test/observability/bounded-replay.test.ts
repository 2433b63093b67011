/**
 * A replay from Last-Event-ID reads a bounded number of history rows: from an id within the bound
 * it sends everything after it, from an older one the newest rows of the bound only, filters
 * applied to those rows as to any replay.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventHub } from '../../src/events/event-hub.js';
import { openEventStream } from '../../src/events/event-stream.js';
import type { EventFilter, FleetEvent } from '../../src/events/fleet-event.js';
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
  await env.teardown();
});

async function replay(lastEventId: string, maxReplay: number, filter: EventFilter = {}): Promise<string[]> {
  const sent: FleetEvent[] = [];
  const stop = await openEventStream({
    db: env.database.db,
    hub: quietHub,
    filter,
    audience: () => true,
    lastEventId,
    maxReplay,
    send: (event) => void sent.push(event),
  });
  stop();
  return sent.map((event) => event.id!);
}

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
