/**
 * A worker's wakes of parked deliveries: the owners whose jobs left this worker are gathered and
 * woken together, one wake at a time, so a burst of endings costs one look per owner, not one
 * per job.
 */
import type { Logger } from '../logger.js';

export interface SlotWaker {
  /** A job of this owner no longer holds a slot (its end is committed). */
  released(ownerId: string): void;
  /** Waits for the wakes under way. */
  drain(): Promise<void>;
}

export function createSlotWaker(wake: (ownerIds: string[]) => Promise<unknown>, logger: Logger): SlotWaker {
  const pending = new Set<string>();
  let running: Promise<void> | null = null;

  const run = async () => {
    while (pending.size > 0) {
      const owners = [...pending];
      pending.clear();
      await wake(owners).catch((error) => logger.warn({ err: (error as Error).message }, 'could not wake parked deliveries'));
    }
    running = null;
  };

  return {
    released(ownerId) {
      pending.add(ownerId);
      // The first release starts the loop on the next turn, so endings of one batch go together.
      running ??= new Promise<void>((resolve) => setImmediate(resolve)).then(run);
    },
    drain: async () => {
      await running;
    },
  };
}
