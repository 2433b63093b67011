import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE transitions (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      entity_type text NOT NULL
        CONSTRAINT transitions_entity_type_check CHECK (entity_type IN (
          'PBI', 'STORY', 'TASK', 'SPRINT', 'SPRINT_RUN', 'CLAUDE_JOB', 'IDEA', 'STEP'
        )),
      entity_id uuid NOT NULL,
      from_status text,
      to_status text NOT NULL,
      trigger text NOT NULL,
      actor_token_id uuid,
      reason text,
      artifacts jsonb,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )
  `.execute(db);
  await sql`CREATE INDEX transitions_entity_idx ON transitions (entity_type, entity_id, id)`.execute(db);
  await sql`CREATE INDEX transitions_created_idx ON transitions USING brin (created_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE transitions`.execute(db);
}
