import type { ColumnType, Generated, Selectable } from 'kysely';
import type { ProviderStatus } from '../../machines/provider.machine.js';
import type { ProviderLimit } from '../../errors/provider-limit.js';
import type { CreatedAt, Id, NullableTimestamp, StatusColumn, Timestamp } from '../column-types.js';

/** One row per provider the fleet has met: ACTIVE, or PAUSED by a limit (src/providers/). */
export interface ProviderTable {
  id: Id;
  name: string;
  status: StatusColumn<ProviderStatus>;
  /** Why it is paused (kept after a resume: the last pause's reason). */
  reason: ProviderLimit | null;
  /** What the provider said. */
  message: string | null;
  paused_at: NullableTimestamp;
  /** When a timed pause ends by itself; null for a spend limit, which waits for an admin. */
  resume_at: NullableTimestamp;
  /** The kinds the pause holds, fleet-wide (those of the workers that run this provider). */
  kinds: ColumnType<string[], string[] | undefined, string[]>;
  pause_count: Generated<number>;
  /** Overload pauses in a row, for the backoff of the next one; a rate limit or a resume by an admin clears it. */
  overload_streak: Generated<number>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export type ProviderRow = Selectable<ProviderTable>;
