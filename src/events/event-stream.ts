/**
 * One subscriber's stream of fleet events, for SSE and WebSocket alike: live events from the hub,
 * filtered and scoped to what the subscriber may see; after a reconnect (Last-Event-ID), first
 * everything missed, replayed from the history table, with live events held back meanwhile so
 * nothing is lost or repeated. A new stream may ask for the most recent events the same way.
 *
 * Bounded: a replay reads at most `maxReplay` history rows (plus those committed while it runs),
 * whatever its filters, since it filters in memory after reading. A Last-Event-ID further behind
 * than that (a client back after a long absence, or an id from long ago) is replayed from the
 * `maxReplay` newest rows: what it missed before them is not sent again, and one filtering on a
 * rare job would otherwise make a replay read the whole history to find a handful of rows. Such a
 * replay is not silent: before it, the subscriber gets a `replay_truncated` notice naming its
 * Last-Event-ID and the id the replay resumes after, so a client knows events are missing and
 * rereads the state it shows through the REST API. (A stream opened with `recent` and no
 * Last-Event-ID missed nothing: its replay is a page's opening, and gets no notice.)
 */
import type { Db } from '../db/database.js';
import type { EventHub } from './event-hub.js';
import { type EventAudience, type EventFilter, type FleetEvent, matches, type OwnedEvent } from './fleet-event.js';
import { eventsAfter, replayFloor } from './load-events.js';
import { recentEventsAnchor } from './recent-events.js';

const REPLAY_PAGE = 500;
/** The most history rows a replay reads (what it filters out counts too). */
export const MAX_REPLAY_ROWS = 10_000;

/**
 * Sent before a replay that skips history: the events after `after` up to and including
 * `resumes_after` are not replayed (those of them the subscriber's filters pass are lost to it).
 */
export interface ReplayTruncated {
  type: 'replay_truncated';
  /** The Last-Event-ID the subscriber gave. */
  after: string;
  /** The id the replay resumes after: the first event replayed is the first one after it. */
  resumes_after: string;
}

export interface EventStreamOptions {
  db: Db;
  hub: EventHub;
  filter: EventFilter;
  /** Which events the subscriber may see. */
  audience: EventAudience;
  /** Replay everything after this event id first. */
  lastEventId: string | null;
  /** Without lastEventId: replay the most recent this many events first (a page opening, not a reconnect). */
  recent?: number | null;
  send(event: FleetEvent): Promise<void> | void;
  /** Sends the notice of a replay cut short, before the replayed events (each transport frames it its own way). */
  sendTruncated(notice: ReplayTruncated): Promise<void> | void;
  /** The most history rows a replay reads. @defaultValue MAX_REPLAY_ROWS */
  maxReplay?: number;
}

/** Starts the stream; resolves with a function that stops it. */
export async function openEventStream(options: EventStreamOptions): Promise<() => void> {
  const { db, hub, filter, audience, send } = options;
  const lastEventId = options.lastEventId ?? (options.recent ? await recentEventsAnchor(db, filter, audience, options.recent) : null);
  // Live events that arrive while the replay runs wait here; those the replay sent are dropped.
  let held: OwnedEvent[] | null = lastEventId ? [] : null;
  const replayed = new Set<string>();

  const deliver = async (owned: OwnedEvent) => {
    // A notice (no id) is never among the replayed: it is no history row.
    if ((owned.event.id !== null && replayed.has(owned.event.id)) || !matches(owned, filter, audience)) return;
    await send(owned.event);
  };

  let chain: Promise<void> = Promise.resolve();
  const unsubscribe = hub.subscribe((events) => {
    if (held) held.push(...events);
    else
      chain = chain.then(async () => {
        for (const owned of events) await deliver(owned);
      });
  });

  if (held) {
    try {
      let after = await replayFloor(db, lastEventId!, options.maxReplay ?? MAX_REPLAY_ROWS);
      // Only a reconnect missed what lies before the floor; a page's opening (`recent`) asked for no more than it gets.
      if (after !== lastEventId && options.lastEventId)
        await options.sendTruncated({ type: 'replay_truncated', after: lastEventId!, resumes_after: after });
      for (;;) {
        const page = await eventsAfter(db, after, REPLAY_PAGE);
        for (const owned of page) {
          after = owned.event.id;
          replayed.add(owned.event.id);
          if (matches(owned, filter, audience)) await send(owned.event);
        }
        if (page.length < REPLAY_PAGE) break;
      }
    } catch (error) {
      // A replay that fails (Postgres away, the client gone) hands no stopper back: release the
      // hub's listener here, or it would stay subscribed, holding every later event, for good.
      unsubscribe();
      held = null;
      throw error;
    }
    const pending = held;
    held = null;
    for (const owned of pending) await deliver(owned);
  }
  return unsubscribe;
}

export function isEventId(value: string | null | undefined): value is string {
  return typeof value === 'string' && /^\d{1,18}$/.test(value);
}
