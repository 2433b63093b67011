/**
 * A worker's own view of its provider's pause, so that no delivery it already fetched reaches the
 * agent while the provider is paused (Redis's hold stops new fetches; this stops the ones in hand,
 * and all of them when Redis lost the hold). It learns of pauses from its own agents at once and
 * from Postgres every `refreshMs`.
 */
import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import { holdOf, type ProviderHold } from './provider-states.js';

export interface ProviderGate {
  readonly provider: string;
  /** The hold in force now, or null: a timed hold whose time has passed is over, whatever the row says. */
  current(now?: number): ProviderHold | null;
  /** What this worker learnt itself (a limit its agent met). */
  learn(hold: ProviderHold): void;
  /** Reads the provider's state now (an admin may have resumed it since the last look); answers the hold in force. */
  refresh(): Promise<ProviderHold | null>;
  close(): void;
}

export function openProviderGate(options: { db: Db; provider: string; refreshMs: number; logger: Logger }): ProviderGate {
  let hold: ProviderHold | null = null;
  const read = async () => {
    const row = await options.db.selectFrom('providers').selectAll().where('name', '=', options.provider).executeTakeFirst();
    hold = row?.status === 'PAUSED' ? holdOf(row) : null;
  };
  let refreshing = false;
  const tick = async () => {
    if (refreshing) return;
    refreshing = true;
    try {
      await read();
    } catch (error) {
      // Keep what we knew: a Postgres outage must not open the gate of a paused provider.
      options.logger.debug({ err: (error as Error).message }, 'could not read the provider state');
    } finally {
      refreshing = false;
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), options.refreshMs);
  timer.unref();

  const current = (now = Date.now()) => {
    if (!hold) return null;
    if (hold.resumeAt !== null && hold.resumeAt.getTime() <= now) return null;
    return hold;
  };

  return {
    provider: options.provider,
    current,
    async refresh() {
      await read();
      return current();
    },
    learn(learnt) {
      hold = learnt;
    },
    close() {
      clearInterval(timer);
    },
  };
}
