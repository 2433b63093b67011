/**
 * A provider's pause as BullMQ carries it, fleet-wide, on the queues of the kinds it serves:
 * - a timed pause (rate limit, overload) is BullMQ's queue rate limit for the time left, which
 *   every worker honours (they run with a `limiter`, see worker-pool.ts) and which ends by itself;
 * - a spend limit is a queue pause, until an admin resumes the provider.
 * Redis may lose either (FLUSHALL, a restart): the sweeper applies what Postgres holds again, and
 * each worker's gate (provider-gate.ts) keeps its own deliveries from reaching the agent meanwhile.
 */
import type { JobKind } from '../job-kinds.js';
import type { JobQueues } from '../queues/job-queues.js';
import type { ProviderHold } from './provider-states.js';

/**
 * While a spend limit holds, how long a worker that gave a delivery back waits before it asks the
 * queue again. The queue's pause is what holds the jobs; this only keeps a worker from spinning
 * when Redis lost that pause, and is short so that an admin's resume is felt at once.
 */
export const SPEND_LIMIT_RECHECK_MS = 2_000;

/**
 * The limiter every worker runs with: it never binds (a billion jobs a second), but BullMQ applies
 * a queue's manual rate limit (`queue.rateLimit`, the hold above) only to workers that have one.
 */
export const PAUSABLE_LIMITER = { max: 1_000_000_000, duration: 1_000 } as const;

/** Puts the hold on its kinds' queues (every queue of a split kind); answers how long workers should wait before asking again. */
export async function holdQueues(queues: JobQueues, hold: ProviderHold, now = Date.now()): Promise<number> {
  const waitMs = hold.resumeAt === null ? SPEND_LIMIT_RECHECK_MS : Math.max(1, hold.resumeAt.getTime() - now);
  await Promise.all(
    hold.kinds.flatMap(queues.queuesOf).map(async (queue) => {
      if (hold.resumeAt === null) await queue.pause();
      await queue.rateLimit(waitMs);
    }),
  );
  return waitMs;
}

/**
 * Lifts a pause from its kinds' queues (an admin resumed the provider, or its time passed): only
 * where one is in force, so that the sweeper's look at every queue writes nothing when all is well.
 */
export async function releaseQueues(queues: JobQueues, kinds: readonly JobKind[]): Promise<void> {
  await Promise.all(
    kinds.flatMap(queues.queuesOf).map(async (queue) => {
      if (await queue.isPaused()) await queue.resume();
      // Only a hold reaches the never-binding limiter's maximum (rateLimit sets the counter past it).
      if ((await queue.getRateLimitTtl(PAUSABLE_LIMITER.max)) > 0) await queue.removeRateLimitKey();
    }),
  );
}
