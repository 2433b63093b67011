import type { Selectable } from 'kysely';
import type { CreatedAt, Json, Timestamp } from '../column-types.js';

/** The first answer to a keyed request, per token and key (migrations/0008). */
export interface IdempotencyKeyTable {
  token_id: string;
  key: string;
  request_hash: string;
  response_status: number;
  response_body: Json;
  created_at: CreatedAt;
  expires_at: Timestamp;
}

export type IdempotencyKeyRow = Selectable<IdempotencyKeyTable>;
