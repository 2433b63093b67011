import type { ColumnType } from 'kysely';
import type { Timestamp } from '../column-types.js';

/** Where each retention walk stopped (migrations/0017): a new sweeper leader goes on from there. */
export interface RetentionCursorTable {
  /** The walk: `transitions`, `claude_jobs`, `held_jobs`, `workers`. */
  name: string;
  /** The walk's own spelling of its last position (an id, or `created_at|id`), as text. */
  position: string;
  updated_at: Timestamp;
}

/** Old jobs the job walk passed while they could not go yet; looked at again until they go. */
export interface RetentionHeldJobTable {
  job_id: ColumnType<string, string, never>;
}
