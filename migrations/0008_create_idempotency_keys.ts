import { type Kysely, sql } from 'kysely';

/**
 * Idempotency-Key: the first answer to a keyed POST that enqueues, written in the same
 * transaction as the rows it created, so a client that retries after losing the answer gets it
 * again instead of a second job. Keys belong to the token that sent them.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE idempotency_keys (
      token_id uuid NOT NULL,
      key text NOT NULL,
      -- sha256 of method, path and the validated body: the same key with another request is refused.
      request_hash text NOT NULL,
      response_status integer NOT NULL,
      response_body jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      PRIMARY KEY (token_id, key)
    )
  `.execute(db);
  await sql`CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE idempotency_keys`.execute(db);
}
