/**
 * Where a stream that asks for the last N events starts: the id just before the N-th newest event
 * its subscriber may see. The stream then replays from there exactly as after a reconnect
 * (Last-Event-ID), so events committed meanwhile are neither lost nor repeated.
 */
import type { Executor } from '../db/database.js';
import { type EventAudience, type EventFilter, matches } from './fleet-event.js';
import { eventsBefore } from './load-events.js';

/** The most a stream may ask for. */
export const MAX_RECENT_EVENTS = 500;
const PAGE = 500;
/** A subscriber that sees few events does not make us read the whole history looking for them. */
const MAX_SCANNED = 20 * PAGE;

export async function recentEventsAnchor(db: Executor, filter: EventFilter, audience: EventAudience, count: number): Promise<string> {
  let before: string | null = null;
  let found = 0;
  for (let scanned = 0; scanned < MAX_SCANNED; ) {
    const page = await eventsBefore(db, before, PAGE);
    for (const owned of page) {
      before = owned.event.id;
      if (matches(owned, filter, audience) && ++found === count) return precedingId(before);
    }
    scanned += page.length;
    if (page.length < PAGE) return '0';
  }
  return precedingId(before!);
}

function precedingId(id: string): string {
  return (BigInt(id) - 1n).toString();
}
