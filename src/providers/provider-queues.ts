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

/** Puts the hold on its kinds' queues; answers how long workers should wait before asking again. */
export async function holdQueues(queues: JobQueues, hold: ProviderHold, now = Date.now()): Promise<number> {
  const waitMs = hold.resumeAt === null ? SPEND_LIMIT_RECHECK_MS : Math.max(1, hold.resumeAt.getTime() - now);
  await Promise.all(
    hold.kinds.map(async (kind) => {
      const queue = queues.queue(kind);
      if (hold.resumeAt === null) await queue.pause();
      await queue.rateLimit(waitMs);
    }),
  );
  return waitMs;
}

/** Lifts a pause from its kinds' queues (an admin resumed the provider, or its time passed). */
export async function releaseQueues(queues: JobQueues, kinds: readonly JobKind[]): Promise<void> {
  await Promise.all(
    kinds.map(async (kind) => {
      const queue = queues.queue(kind);
      await queue.resume();
      await queue.removeRateLimitKey();
    }),
  );
}
