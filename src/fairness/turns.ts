/**
 * Owners take turns within a kind (SPEC "Fair shares and schedules"). BullMQ's open-source edition
 * has no groups, but it serves prioritized jobs lowest priority first and in order of arrival
 * within a priority. A job's turn is its priority:
 *
 *   turn = max(the kind's front, the owner's highest turn there, queued or running, + 1)
 *   front = the higher of the highest turn its jobs holding a claim have and the lowest QUEUED one
 *
 * so each owner's jobs of a kind take consecutive turns from where the kind's service stands now:
 * an owner who enqueues one job while another holds 10,000 is served after at most one job of
 * every owner already at the front, and an owner's own jobs keep their order. The front follows
 * what is being served: queued jobs nobody serves (an owner's backlog held at their cap, jobs
 * waiting out a spent day or a provider's pause) do not hold it back, or each newcomer would go
 * before an owner whose backlog is being served, again and again; and an owner's running jobs
 * count as theirs, so one who sends a job whenever the last one started does not keep the first
 * turn for ever. Turns restart at 1 whenever a
 * kind has nothing queued or running. This is start-time fair queuing with the front as the
 * virtual clock; its one limit is BullMQ's priority range (src/queues/job-priority.ts): in a
 * backlog that never empties for more than 2,097,151 turns, later turns share the last priority
 * and are served first come.
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
  // One probe of an index per bound (migration 0012's jobfleet_turn_bounds, its plans kept per connection).
  const { rows } = await sql<{ pair_kind: JobKind; pair_owner: string; front: number | null; back: number | null }>`
    SELECT * FROM jobfleet_turn_bounds(${pairs.map((p) => p.kind)}::text[], ${pairs.map((p) => p.owner_id)}::text[])
  `.execute(trx);
  const next = new Map(
    rows.map((row) => [keyOf({ kind: row.pair_kind, owner_id: row.pair_owner }), Math.max(row.front ?? 1, (row.back ?? 0) + 1)]),
  );
  return requests.map((request) => {
    const key = keyOf(request);
    const turn = next.get(key)!;
    next.set(key, turn + 1);
    return turn;
  });
}
