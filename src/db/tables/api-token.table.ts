import type { Insertable, Selectable } from 'kysely';
import type { CreatedAt, Id, NullableTimestamp } from '../column-types.js';

/** Bearer tokens, stored as a SHA-256 hash; the secret is shown once, at creation. */
export interface ApiTokenTable {
  id: Id;
  name: string;
  owner_id: string;
  scopes: string[];
  token_hash: string;
  /** The first characters of the secret, so a user can tell tokens apart. */
  token_prefix: string;
  created_at: CreatedAt;
  last_used_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
}

export type ApiToken = Selectable<ApiTokenTable>;
export type NewApiToken = Insertable<ApiTokenTable>;
