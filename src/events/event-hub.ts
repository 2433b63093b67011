/**
 * An API process's ear for fleet events: one Redis subscription, fanned out to every open
 * stream (SSE or WebSocket) of this process.
 */
import type { Logger } from '../logger.js';
import { listenOn } from '../queues/fleet-channels.js';
import { createSubscriberConnection, type RedisTarget } from '../queues/redis-connections.js';
import { eventsChannel } from './events-channel.js';
import type { OwnedEvent } from './fleet-event.js';

export type EventListener = (events: OwnedEvent[]) => void;

export interface EventHub {
  subscribe(listener: EventListener): () => void;
  /** Resolves when the hub closes: long-lived streams end then. */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

export async function createEventHub(redis: RedisTarget, prefix: string, logger: Logger): Promise<EventHub> {
  const listeners = new Set<EventListener>();
  const subscriber = createSubscriberConnection(redis, logger, 'event-hub');
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  await listenOn(subscriber, eventsChannel(prefix), (message) => {
    let events: OwnedEvent[];
    try {
      events = JSON.parse(message) as OwnedEvent[];
    } catch {
      logger.warn('ignored a malformed event message');
      return;
    }
    for (const listener of listeners) listener(events);
  });
  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    closed,
    async close() {
      listeners.clear();
      markClosed();
      subscriber.disconnect();
    },
  };
}
