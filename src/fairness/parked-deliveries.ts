/**
 * Deliveries parked at their owner's cap. A claim that finds the owner's slots taken leaves the
 * job QUEUED and moves its delivery to BullMQ's delayed set for OWNER_CAP_RECHECK_MS, noting the
 * owner in a Redis set of capped owners. When a slot frees, the parked deliveries of that owner
 * with the lowest turns are promoted back to the queue, as many as there are free slots: by the
 * worker whose job ended (right after its outcome committed), and by every sweep (for ends no
 * worker saw: a cancel, a lost worker). A wake that is lost costs only time: the delay runs out.
 *
 * A parked delivery carries a mark (QueuedJobData.parkedAtCap), and only marked ones are woken: a
 * delivery delayed until its owner's spent day is over must wait its time, or each slot it frees
 * would wake it again at once, to be claimed and given back over and over.
 */
import type { Job } from 'bullmq';
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { JOB_KINDS, type JobKind } from '../job-kinds.js';
import type { Logger } from '../logger.js';
import { bullJobId, type JobQueues, type QueuedJobData } from '../queues/job-queues.js';
import { ownerSlots } from './owner-caps.js';

export const cappedOwnersKey = (prefix: string) => `${prefix}:jobfleet:capped-owners`;

/** Most deliveries one wake promotes per owner (an owner whose cap was lifted is let go in steps). */
const MAX_WAKE_PER_OWNER = 100;

/** Notes that an owner has parked deliveries, so that a freed slot of theirs wakes one. */
export async function noteParked(queues: JobQueues, ownerId: string): Promise<void> {
  await queues.connection.sadd(cappedOwnersKey(queues.prefix), ownerId);
}

/** Marks a delivery about to wait at its owner's cap as one a freed slot may wake (once: it stays marked). */
export async function markParked(delivery: Job<QueuedJobData>): Promise<void> {
  if (!delivery.data.parkedAtCap) await delivery.updateData({ ...delivery.data, parkedAtCap: true });
}

/** A delivery about to wait for another reason (its owner's spent day) is no longer one a wake may take. */
export async function unmarkParked(delivery: Job<QueuedJobData>): Promise<void> {
  if (delivery.data.parkedAtCap) await delivery.updateData({ id: delivery.data.id });
}

export interface WakeDeps {
  db: Db;
  queues: JobQueues;
  logger: Logger;
  /** OWNER_MAX_RUNNING; null: owners without a cap of their own have none. */
  ownerMaxRunning: number | null;
}

/**
 * Promotes parked deliveries of these owners (null: every capped owner) up to their free slots;
 * answers how many. Owners with nothing queued leave the set of capped owners. It reads the
 * owners' running jobs and probes their lowest turns, never counts their backlogs: it runs after
 * every end of a capped owner's job.
 */
export async function wakeParked(deps: WakeDeps, ownerIds: readonly string[] | null): Promise<number> {
  const key = cappedOwnersKey(deps.queues.prefix);
  const { connection } = deps.queues;
  let owners: string[];
  if (ownerIds === null) owners = await connection.smembers(key);
  else {
    const unique = [...new Set(ownerIds)];
    if (unique.length === 0) return 0;
    const member = await connection.smismember(key, ...unique);
    owners = unique.filter((_, index) => member[index] === 1);
  }
  if (owners.length === 0) return 0;

  let promoted = 0;
  for (const slots of await ownerSlots(deps.db, owners, deps.ownerMaxRunning)) {
    const free = Math.min(slots.maxRunning === null ? MAX_WAKE_PER_OWNER : slots.maxRunning - slots.running, MAX_WAKE_PER_OWNER);
    if (free <= 0) continue;
    const woken = await promoteLowestTurns(deps, slots.ownerId, free);
    if (woken === null) await connection.srem(key, slots.ownerId);
    else promoted += woken;
  }
  return promoted;
}

/**
 * The owner's QUEUED jobs with the lowest turns are the ones their claims parked (claims take
 * jobs in turn order); a few more than the free slots are looked at, since one may be between a
 * claim and its delay right now. Answers how many were promoted, or null when the owner has
 * nothing queued at all (and so no parked delivery to wake any more).
 */
async function promoteLowestTurns(deps: WakeDeps, ownerId: string, free: number): Promise<number | null> {
  const { rows } = await sql<{ id: string; kind: JobKind; requeue_count: number }>`
    SELECT q.id, q.kind, q.requeue_count
    FROM unnest(${[...JOB_KINDS]}::text[]) AS k(kind)
    CROSS JOIN LATERAL (
      SELECT j.id, j.kind, j.requeue_count, j.turn FROM claude_jobs j
      WHERE j.kind = k.kind AND j.owner_id = ${ownerId} AND j.status = 'QUEUED'
      ORDER BY j.turn LIMIT ${free * 2 + 4}
    ) AS q
    ORDER BY q.turn
    LIMIT ${free * 2 + 4}
  `.execute(deps.db);
  if (rows.length === 0) return null;
  let promoted = 0;
  for (const row of rows) {
    if (promoted >= free) break;
    const delivery = await deps.queues.queueOf(row).getJob(bullJobId(row));
    if (!delivery?.data.parkedAtCap || !(await delivery.isDelayed())) continue;
    try {
      await delivery.promote();
      promoted += 1;
    } catch (error) {
      // It left the delayed set since we looked (its delay ran out, or another wake took it).
      deps.logger.debug({ job: row.id, err: (error as Error).message }, 'parked delivery not promoted');
    }
  }
  return promoted;
}
