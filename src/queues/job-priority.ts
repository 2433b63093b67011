/**
 * A job's BullMQ priority is its turn in its kind (src/fairness/turns.ts). BullMQ serves the
 * lowest priority first, first come within one, and takes priorities up to 2^21 - 1; 0 means
 * "no priority" and would put a job before every prioritized one, so every add carries one.
 */
export const MAX_PRIORITY = 2_097_151;

export const priorityOf = (turn: number): number => Math.min(Math.max(Math.trunc(turn), 1), MAX_PRIORITY);
