import { type Kysely, sql } from 'kysely';

/**
 * The channel agents talk back on (SPEC "Agents talk back"):
 * - job_questions: what an agent asked a person through `ask_user`, and the answer. A question is
 *   OPEN until it is answered (ANSWERED) or its job ends first (CLOSED);
 * - job_usage_records: usage an agent reported through `record_usage`, kept by the agent's own id
 *   so that a repeated report adds nothing;
 * - claude_jobs.progress: the agent's last `report_progress` ({message, percent, at});
 * - claude_jobs.document: what the agent wrote through `update_idea_grill_md` / `update_idea_plan_md`,
 *   which is the job's answer when it finishes;
 * - claude_jobs.has_questions: the job asked a person something, so its end must close what is
 *   still open (the door's job cascade looks only at jobs that asked: the others pay nothing);
 * - workers.mode: `process` for a worker process, `pull` for an agent session that works the
 *   queue through the MCP server (`wait_for_job`);
 * - fleet_secrets: the key job tokens are signed with. A job's token is derived from its id and
 *   claim epoch rather than stored, so a claim costs no extra write.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE job_questions (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      job_id uuid NOT NULL REFERENCES claude_jobs (id) ON DELETE CASCADE,
      product_id uuid NOT NULL,
      question text NOT NULL,
      options jsonb NULL,
      status text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'ANSWERED', 'CLOSED')),
      answer text NULL,
      answered_by_token_id uuid NULL,
      closed_reason text NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      answered_at timestamptz NULL,
      closed_at timestamptz NULL
    )
  `.execute(db);
  await sql`CREATE INDEX job_questions_job_idx ON job_questions (job_id, created_at)`.execute(db);
  await sql`CREATE INDEX job_questions_open_idx ON job_questions (created_at) WHERE status = 'OPEN'`.execute(db);
  await sql`
    CREATE TABLE job_usage_records (
      job_id uuid NOT NULL REFERENCES claude_jobs (id) ON DELETE CASCADE,
      id text NOT NULL,
      input_tokens integer NOT NULL,
      output_tokens integer NOT NULL,
      cost_usd numeric(14, 6) NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (job_id, id)
    )
  `.execute(db);
  await sql`ALTER TABLE claude_jobs ADD COLUMN progress jsonb NULL, ADD COLUMN document text NULL, ADD COLUMN has_questions boolean NOT NULL DEFAULT false`.execute(
    db,
  );
  await sql`ALTER TABLE workers ADD COLUMN mode text NOT NULL DEFAULT 'process' CHECK (mode IN ('process', 'pull'))`.execute(db);
  await sql`
    CREATE TABLE fleet_secrets (
      name text PRIMARY KEY,
      secret text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);
  // 244 random bits from two version-4 UUIDs: enough for an HMAC key, and no extension needed.
  await sql`
    INSERT INTO fleet_secrets (name, secret)
    VALUES ('job_token_key', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''))
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE fleet_secrets`.execute(db);
  await sql`ALTER TABLE workers DROP COLUMN mode`.execute(db);
  await sql`ALTER TABLE claude_jobs DROP COLUMN has_questions, DROP COLUMN document, DROP COLUMN progress`.execute(db);
  await sql`DROP TABLE job_usage_records`.execute(db);
  await sql`DROP TABLE job_questions`.execute(db);
}
