/**
 * BullMQ's hold on a delivery, timed from the job lease. A worker that takes a delivery and dies
 * before its claim commits leaves the entry active in Redis and the row QUEUED in Postgres:
 * reconcile leaves active entries alone, so only BullMQ's stalled check can hand the job to
 * another worker. On BullMQ's own defaults (a 30 s lock, a check every 30 s) that took up to a
 * minute whatever LEASE_MS said; timed from the lease, such a job runs again within about one
 * lease, as a job whose worker dies after its claim does (its lease lapses, the sweeper acts).
 *
 * A stalled entry is found by two checks after its lock expired (the first marks it, the second
 * moves it), so the lock takes half a lease and the checks a quarter each. The lock is renewed
 * with the heartbeat's rhythm (at most every half lock), so a busy event loop does not lose it.
 * A redelivery of a job that did start is harmless: its claim finds the row no longer QUEUED.
 */
import type { WorkerOptions } from 'bullmq';

export type DeliveryLockOptions = Required<Pick<WorkerOptions, 'lockDuration' | 'lockRenewTime' | 'stalledInterval' | 'maxStalledCount'>>;

export function deliveryLockOptions(timings: { leaseMs: number; heartbeatMs: number }): DeliveryLockOptions {
  const lockDuration = Math.ceil(timings.leaseMs / 2);
  return {
    lockDuration,
    lockRenewTime: Math.max(1, Math.min(timings.heartbeatMs, Math.floor(lockDuration / 2))),
    stalledInterval: Math.ceil(timings.leaseMs / 4),
    // Past this, BullMQ fails the entry; a row still QUEUED is then queued again by reconcile.
    maxStalledCount: 1,
  };
}
