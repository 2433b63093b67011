/**
 * The time as jobfleet's budgets see it. Injectable so that a test can move a fleet into the next
 * UTC day without waiting for one; everything else reads time from Postgres or the system.
 */
export type Clock = () => Date;

export const systemClock: Clock = () => new Date();

/** The UTC day of a moment, `YYYY-MM-DD`: owners' daily budgets reset at 00:00 UTC. */
export function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

/** The start of the UTC day after `at`. */
export function nextUtcDay(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate() + 1));
}
