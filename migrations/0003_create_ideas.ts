import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE ideas (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      product_id uuid NOT NULL REFERENCES products (id),
      title text NOT NULL,
      prompt_text text NOT NULL DEFAULT '',
      status text NOT NULL DEFAULT 'DRAFT'
        CONSTRAINT ideas_status_check CHECK (status IN (
          'DRAFT', 'GRILLING', 'GRILL_FAILED', 'GRILLED', 'PLANNING', 'PLAN_FAILED', 'PLAN_READY', 'PLANNED'
        )),
      grill_md text,
      plan_md text,
      plan_errors jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);
  await sql`CREATE INDEX ideas_product_idx ON ideas (product_id, created_at)`.execute(db);

  await sql`
    CREATE TABLE idea_logs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      idea_id uuid NOT NULL REFERENCES ideas (id),
      type text NOT NULL
        CONSTRAINT idea_logs_type_check CHECK (type IN ('GRILL_RESULT', 'PLAN_RESULT', 'JOB_EVENT', 'CHAT_MESSAGE', 'CHAT_REPLY')),
      content text NOT NULL DEFAULT '',
      data jsonb,
      job_id uuid,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )
  `.execute(db);
  await sql`CREATE INDEX idea_logs_idea_idx ON idea_logs (idea_id, created_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE idea_logs`.execute(db);
  await sql`DROP TABLE ideas`.execute(db);
}
