/**
 * Idempotency keys past their expiry (IDEMPOTENCY_TTL_MS after their answer): a client's retry
 * window is over, and an expired key is free to be used again. Keyed requests delete a few as
 * they go; the sweeper deletes the rest, so the table stays small while no keyed request comes.
 */
import { sql } from 'kysely';
import type { Executor } from '../db/database.js';

/** Deletes up to `limit` expired keys, oldest first, through the index on expires_at. */
export async function purgeExpiredKeys(db: Executor, limit = 100): Promise<number> {
  const result = await sql`
    DELETE FROM idempotency_keys WHERE (token_id, key) IN (
      SELECT token_id, key FROM idempotency_keys WHERE expires_at <= now() ORDER BY expires_at LIMIT ${limit} FOR UPDATE SKIP LOCKED
    )
  `.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
