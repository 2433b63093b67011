/**
 * The event relay: the fleet's active sweeper listens for the history notifications Postgres
 * delivers at each commit (src/transitions/history-notice.ts), turns the committed history rows
 * into fleet events and publishes them on Redis, where every API process hears them. A range may
 * hold rows of other transactions too: rows published once are not published again.
 */
import pg from 'pg';
import { publishOn } from '../queues/fleet-channels.js';
import type { RedisClient } from '../queues/redis-connections.js';
import { withDefaultUser } from '../db/connection-string.js';
import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import { HISTORY_CHANNEL } from '../transitions/history-notice.js';
import type { HistoryEvent, OwnedEvent } from './fleet-event.js';
import { eventsChannel } from './events-channel.js';
import { closedQuestionNotices } from './job-notices.js';
import { eventsByIds } from './load-events.js';

export interface EventRelay {
  close(): Promise<void>;
}

const REMEMBERED = 100_000;

export async function startEventRelay(options: {
  connectionString: string;
  db: Db;
  redis: RedisClient;
  prefix: string;
  logger: Logger;
}): Promise<EventRelay> {
  const { db, redis, logger } = options;
  const published = new Set<string>();
  let chain: Promise<void> = Promise.resolve();
  let closed = false;
  let client: pg.Client | null = null;
  let retry: NodeJS.Timeout | undefined;

  const remember = (id: string) => {
    published.add(id);
    if (published.size > REMEMBERED) published.delete(published.values().next().value!);
  };

  const relay = async (payload: string) => {
    const [min, max] = payload.split(':').map((part) => BigInt(part));
    if (min === undefined || max === undefined || max < min || max - min > 100_000n) return;
    const ids: string[] = [];
    for (let id = min; id <= max; id += 1n) if (!published.has(id.toString())) ids.push(id.toString());
    let events: OwnedEvent<HistoryEvent>[];
    try {
      events = await eventsByIds(db, ids);
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'event relay could not read history rows');
      return;
    }
    if (events.length === 0) return;
    for (const { event } of events) remember(event.id);
    const notices = await closedQuestionNotices(db, events).catch((error: Error) => {
      logger.warn({ err: error.message }, 'event relay could not read the questions ended jobs closed');
      return [];
    });
    await publishOn(redis, eventsChannel(options.prefix), JSON.stringify([...events, ...notices])).catch((error: Error) => {
      logger.warn({ err: error.message, events: events.length }, 'event relay could not publish; clients replay from history on reconnect');
    });
  };

  const connect = async () => {
    if (closed) return;
    const fresh = new pg.Client({ connectionString: withDefaultUser(options.connectionString), application_name: 'jobfleet-event-relay' });
    const reconnect = () => {
      if (client !== fresh) return;
      client = null;
      void fresh.end().catch(() => undefined);
      if (!closed) retry = setTimeout(() => void connect(), 1_000);
    };
    fresh.on('error', reconnect);
    fresh.on('end', reconnect);
    fresh.on('notification', (message) => {
      if (message.payload) chain = chain.then(() => relay(message.payload!));
    });
    try {
      await fresh.connect();
      await fresh.query(`LISTEN ${HISTORY_CHANNEL}`);
      client = fresh;
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'event relay could not listen; retrying');
      void fresh.end().catch(() => undefined);
      if (!closed) retry = setTimeout(() => void connect(), 1_000);
    }
  };

  await connect();
  return {
    async close() {
      closed = true;
      clearTimeout(retry);
      const old = client;
      client = null;
      if (old) {
        old.removeAllListeners('end');
        await old.end().catch(() => undefined);
      }
      await chain;
    },
  };
}
