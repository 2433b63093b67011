/**
 * The sweeper process role: every SWEEP_INTERVAL_MS, if this process holds the fleet's sweeper
 * lock (or takes it), run one sweep. Any number of processes may run a sweeper; one sweeps, the
 * others stand by and take over when it goes. The leader also relays committed status changes
 * to Redis as live events.
 *
 * While this process cannot reach Postgres, no worker can renew its leases either: leases lapse
 * because of the outage, not because workers died. So after contact returns, the sweeper gives
 * every worker one lease to renew before it judges leases again; the other steps run at once, and
 * its reconcile checks every QUEUED job (claims failed meanwhile, and BullMQ may have given up on
 * their deliveries).
 */
import type { RedisClient } from '../queues/redis-connections.js';
import { isPostgresUnavailable } from '../db/postgres-unavailable.js';
import { type EventRelay, startEventRelay } from '../events/event-relay.js';
import type { Logger } from '../logger.js';
import { createLeadership } from './leadership.js';
import { sweep, type SweepDeps } from './sweep.js';

export interface SweeperOptions extends SweepDeps {
  connectionString: string;
  intervalMs: number;
  /** Where the leader publishes live events. */
  events: { redis: RedisClient; prefix: string };
}

export interface Sweeper {
  close(): Promise<void>;
}

export function startSweeper(options: SweeperOptions): Sweeper {
  const logger: Logger = options.logger.child({ role: 'sweeper' });
  const leadership = createLeadership(options.connectionString, logger);
  let relay: EventRelay | null = null;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> = Promise.resolve();
  let outOfReach = false;
  let judgeLeasesFrom = 0;
  let fullCheckDue = false;

  const tick = async () => {
    try {
      const leading = await leadership.acquire();
      if (!leadership.reachable) outOfReach = true;
      else if (outOfReach) {
        outOfReach = false;
        judgeLeasesFrom = Date.now() + options.leaseMs;
        fullCheckDue = true;
        logger.info({ leaseMs: options.leaseMs }, 'Postgres is back; leases are judged again once workers had a lease to renew them');
      }
      if (leading && !relay) {
        relay = await startEventRelay({
          connectionString: options.connectionString,
          db: options.db,
          redis: options.events.redis,
          prefix: options.events.prefix,
          logger,
        });
      } else if (!leading && relay) {
        await relay.close();
        relay = null;
      }
      if (leading) {
        const report = await sweep(
          { ...options, logger },
          { judgeLeases: Date.now() >= judgeLeasesFrom, afterPostgresOutage: fullCheckDue },
        );
        if (report.fullCheck !== null) fullCheckDue = false;
      }
    } catch (error) {
      if (isPostgresUnavailable(error)) outOfReach = true;
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
      await relay?.close();
      await leadership.release();
    },
  };
}
