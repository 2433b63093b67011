/**
 * A stream whose replay fails (Postgres away mid-replay) must let go of the event hub: no stopper
 * reaches its caller then, so a listener left subscribed would hold every later event for good.
 */
import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import type { EventHub, EventListener } from '../../src/events/event-hub.js';
import { openEventStream } from '../../src/events/event-stream.js';

function countingHub() {
  const listeners = new Set<EventListener>();
  const hub: EventHub = {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    closed: new Promise(() => {}),
    close: async () => listeners.clear(),
  };
  return { hub, listeners };
}

/** A database that is away: every statement fails as a refused connection would. */
const awayDb = new Proxy(
  {},
  {
    get() {
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    },
  },
) as Db;

describe('an event stream whose replay fails', () => {
  it('rejects and leaves no listener on the hub', async () => {
    const { hub, listeners } = countingHub();
    const opening = openEventStream({
      db: awayDb,
      hub,
      filter: {},
      audience: () => true,
      lastEventId: '41',
      send: () => undefined,
      sendTruncated: () => undefined,
    });
    await expect(opening).rejects.toThrow('ECONNREFUSED');
    expect(listeners.size).toBe(0);
  });
});
