/**
 * Runs a transaction again when Postgres chose it as a deadlock's victim (SQLSTATE 40P01).
 * Postgres has rolled the victim back whole, so running it again is safe, and it is what
 * Postgres's documentation advises. Locks taken in one order avoid most deadlocks (the subject
 * locks of enqueue, the jobs-before-run order of run control); this catches the rare ones that a
 * cascade across several tables can still meet against a worker's batch.
 */
const DEADLOCK = '40P01';

export function isDeadlock(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === DEADLOCK;
}

export async function retryOnDeadlock<T>(work: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      if (!isDeadlock(error) || attempt >= attempts) throw error;
      // A short random pause, so the two sides do not meet again in the same step.
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt));
    }
  }
}
