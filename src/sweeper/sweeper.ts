/**
 * The sweeper process role: every SWEEP_INTERVAL_MS, if this process holds the fleet's sweeper
 * lock (or takes it), run one sweep. Any number of processes may run a sweeper; one sweeps, the
 * others stand by and take over when it goes.
 */
import type { Logger } from '../logger.js';
import { createLeadership } from './leadership.js';
import { sweep, type SweepDeps } from './sweep.js';

export interface SweeperOptions extends SweepDeps {
  connectionString: string;
  intervalMs: number;
}

export interface Sweeper {
  close(): Promise<void>;
}

export function startSweeper(options: SweeperOptions): Sweeper {
  const logger: Logger = options.logger.child({ role: 'sweeper' });
  const leadership = createLeadership(options.connectionString, logger);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> = Promise.resolve();

  const tick = async () => {
    try {
      if (await leadership.acquire()) await sweep({ ...options, logger });
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'sweep failed; the next one tries again');
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      current = tick().finally(schedule);
    }, options.intervalMs);
  };
  current = tick().finally(schedule);

  return {
    async close() {
      stopped = true;
      clearTimeout(timer);
      await current;
      await leadership.release();
    },
  };
}
