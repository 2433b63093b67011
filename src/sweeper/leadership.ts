/**
 * Exactly one sweeper is active across the fleet: the one holding a Postgres advisory lock on its
 * own session. Postgres rather than Redis, because the sweeper is what repairs a Redis that lost
 * its data; and a session lock frees itself when its holder dies, so a standby takes over at its
 * next attempt without any expiry to tune.
 */
import pg from 'pg';
import { withDefaultUser } from '../db/connection-string.js';
import type { Logger } from '../logger.js';

/** The advisory lock key of the sweeper (any constant; "jobfleet" in ASCII). */
const SWEEPER_LOCK = 0x6a6f62666c656574n;

export interface Leadership {
  /** True when this process holds the lock (acquiring it if free). */
  acquire(): Promise<boolean>;
  /** False when the last attempt could not reach Postgres, or its session has died since. */
  readonly reachable: boolean;
  release(): Promise<void>;
}

export function createLeadership(connectionString: string, logger: Logger): Leadership {
  let client: pg.Client | null = null;
  let leader = false;
  let reachable = true;

  const forget = () => {
    leader = false;
    reachable = false;
    const old = client;
    client = null;
    void old?.end().catch(() => undefined);
  };

  // The session ended (Postgres restarted, the connection broke): whoever holds the lock now, this
  // process does not; it tries again at its next tick. An older session ending late changes nothing.
  const sessionEnded = (session: pg.Client) => {
    if (session !== client) return;
    if (leader) logger.warn('sweeper lost its database session; it will try to lead again');
    forget();
  };

  return {
    async acquire() {
      if (leader && client) return true;
      try {
        if (!client) {
          const fresh = new pg.Client({ connectionString: withDefaultUser(connectionString), application_name: 'jobfleet-sweeper-lock' });
          fresh.on('error', () => sessionEnded(fresh));
          fresh.on('end', () => sessionEnded(fresh));
          await fresh.connect();
          client = fresh;
        }
        const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [SWEEPER_LOCK.toString()]);
        reachable = true;
        if (rows[0]!.locked && !leader) logger.info('this process is the active sweeper');
        leader = rows[0]!.locked;
        return leader;
      } catch (error) {
        logger.warn({ err: (error as Error).message }, 'sweeper could not reach Postgres to take the lead');
        forget();
        return false;
      }
    },
    get reachable() {
      return reachable;
    },
    async release() {
      leader = false;
      const old = client;
      client = null;
      if (old) {
        old.removeAllListeners('end');
        await old.end().catch(() => undefined);
      }
    },
  };
}
