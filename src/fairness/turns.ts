/**
 * Owners take turns within a kind (SPEC "Fair shares and schedules"). BullMQ's open-source edition
 * has no groups, but it serves prioritized jobs lowest priority first and in order of arrival
 * within a priority. A job's turn is its priority:
 *
 *   turn = max(the lowest turn still QUEUED in its kind, the owner's highest QUEUED turn there + 1)
 *
 * so each owner's jobs of a kind take consecutive turns from where the kind's queue stands now:
 * an owner who enqueues one job while another holds 10,000 is served after at most one job of
 * every owner already at the front, and an owner's own jobs keep their order. Turns restart at 1
 * whenever a kind's queue empties. This is start-time fair queuing with the queue's front as the
 * virtual clock; its one limit is BullMQ's priority range (src/queues/job-priority.ts): in a backlog that never empties for
 * more than 2,097,151 turns, later turns share the last priority and are served first come.
 *
 * Turns are ordering, not correctness: two enqueues racing for one owner may draw the same turn,
 * which only means first come between the two.
 */
import { sql } from 'kysely';
import type { Trx } from '../db/database.js';
import type { JobKind } from '../job-kinds.js';

export interface TurnRequest {
  kind: JobKind;
  owner_id: string;
}

/** The turns of new jobs, in request order: consecutive per kind and owner, after what is queued. */
export async function assignTurns(trx: Trx, requests: readonly TurnRequest[]): Promise<number[]> {
  if (requests.length === 0) return [];
  const keyOf = (request: TurnRequest) => `${request.kind}\u0000${request.owner_id}`;
  const pairs = [...new Map(requests.map((request) => [keyOf(request), request])).values()];
  // One probe of each partial index per pair: the kind's front, and the owner's back.
  const { rows } = await sql<{ kind: JobKind; owner_id: string; front: number | null; back: number | null }>`
    SELECT p.kind, p.owner_id,
      (SELECT q.turn FROM claude_jobs q WHERE q.kind = p.kind AND q.status = 'QUEUED' ORDER BY q.turn LIMIT 1) AS front,
      (SELECT q.turn FROM claude_jobs q WHERE q.kind = p.kind AND q.owner_id = p.owner_id AND q.status = 'QUEUED'
        ORDER BY q.turn DESC LIMIT 1) AS back
    FROM unnest(${pairs.map((p) => p.kind)}::text[], ${pairs.map((p) => p.owner_id)}::text[]) AS p(kind, owner_id)
  `.execute(trx);
  const next = new Map(rows.map((row) => [keyOf(row), Math.max(row.front ?? 1, (row.back ?? 0) + 1)]));
  return requests.map((request) => {
    const key = keyOf(request);
    const turn = next.get(key)!;
    next.set(key, turn + 1);
    return turn;
  });
}
