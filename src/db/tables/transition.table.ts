import type { ColumnType, Insertable, Selectable } from 'kysely';
import type { EntityType } from '../../machines/index.js';
import type { NullableJson } from '../column-types.js';

/** The history of every status change of every entity, written only by the transition door. */
export interface TransitionTable {
  /** bigint identity: also the event id of the live stream (Last-Event-ID). */
  id: ColumnType<string, never, never>;
  entity_type: EntityType;
  entity_id: string;
  /** null for the row's creation. */
  from_status: string | null;
  to_status: string;
  trigger: string;
  actor_token_id: string | null;
  reason: string | null;
  artifacts: NullableJson;
  created_at: ColumnType<Date, never, never>;
}

export type TransitionRow = Selectable<TransitionTable>;
export type NewTransitionRow = Insertable<TransitionTable>;
