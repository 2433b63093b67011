/**
 * Stored first answers of keyed requests (migrations/0008), per token and key. Requests with one
 * key take turns on a transaction-scoped advisory lock, so a duplicate that arrives while the
 * first is still being answered waits for it and then replays its answer.
 */
import { sql } from 'kysely';
import type { JsonValue } from '../db/column-types.js';
import type { Executor, Trx } from '../db/database.js';
import type { IdempotencyKeyRow } from '../db/tables/idempotency-key.table.js';

export interface KeyOwner {
  tokenId: string;
  key: string;
}

/** Held until the transaction ends. The two-int form never meets the sweeper's one-bigint lock. */
export async function lockKey(trx: Trx, { tokenId, key }: KeyOwner): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtext(${tokenId}), hashtext(${key}))`.execute(trx);
}

/** The key's stored answer, unless it has expired (an expired key is free to be used again). */
export async function findLiveKey(db: Executor, { tokenId, key }: KeyOwner): Promise<IdempotencyKeyRow | undefined> {
  return db
    .selectFrom('idempotency_keys')
    .selectAll()
    .where('token_id', '=', tokenId)
    .where('key', '=', key)
    .where('expires_at', '>', sql<Date>`now()`)
    .executeTakeFirst();
}

export interface StoredAnswer {
  requestHash: string;
  status: number;
  body: JsonValue;
  ttlMs: number;
}

export async function saveKey(trx: Trx, owner: KeyOwner, answer: StoredAnswer): Promise<void> {
  // Only an expired row can be here (findLiveKey ran under the lock): the key starts afresh.
  await trx.deleteFrom('idempotency_keys').where('token_id', '=', owner.tokenId).where('key', '=', owner.key).execute();
  await trx
    .insertInto('idempotency_keys')
    .values({
      token_id: owner.tokenId,
      key: owner.key,
      request_hash: answer.requestHash,
      response_status: answer.status,
      response_body: JSON.stringify(answer.body),
      expires_at: sql<Date>`now() + ${answer.ttlMs} * interval '1 millisecond'`,
    })
    .execute();
}
