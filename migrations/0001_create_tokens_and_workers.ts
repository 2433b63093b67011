import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE api_tokens (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL,
      owner_id text NOT NULL,
      scopes text[] NOT NULL,
      token_hash text NOT NULL UNIQUE,
      token_prefix text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz,
      revoked_at timestamptz,
      CONSTRAINT api_tokens_scopes_check
        CHECK (scopes <@ ARRAY['read', 'write', 'enqueue', 'worker', 'admin']::text[])
    )
  `.execute(db);

  await sql`
    CREATE TABLE workers (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      host text NOT NULL,
      pid integer NOT NULL,
      kinds text[] NOT NULL,
      concurrency integer NOT NULL CHECK (concurrency > 0),
      token_id uuid NOT NULL REFERENCES api_tokens (id),
      version text NOT NULL,
      started_at timestamptz NOT NULL DEFAULT now(),
      heartbeat_at timestamptz NOT NULL DEFAULT now(),
      stopped_at timestamptz
    )
  `.execute(db);
  await sql`CREATE INDEX workers_live_idx ON workers (heartbeat_at) WHERE stopped_at IS NULL`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE workers`.execute(db);
  await sql`DROP TABLE api_tokens`.execute(db);
}
