import type { Timestamp } from '../column-types.js';

/** An admin's cap on one owner's running jobs, over OWNER_MAX_RUNNING; null max_running: none. */
export interface OwnerCapTable {
  owner_id: string;
  max_running: number | null;
  updated_by_token_id: string | null;
  updated_at: Timestamp;
}
