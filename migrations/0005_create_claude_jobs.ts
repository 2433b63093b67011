import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE claude_jobs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      kind text NOT NULL
        CONSTRAINT claude_jobs_kind_check CHECK (kind IN (
          'TASK_IMPLEMENTATION', 'IDEA_GRILL', 'IDEA_MAKE_PLAN', 'PLAN_CHAT', 'SPRINT_IMPLEMENTATION'
        )),
      status text NOT NULL DEFAULT 'QUEUED'
        CONSTRAINT claude_jobs_status_check CHECK (status IN (
          'QUEUED', 'CLAIMED', 'RUNNING', 'DONE', 'FAILED', 'CANCELLED', 'SKIPPED'
        )),
      idea_id uuid REFERENCES ideas (id),
      task_id uuid REFERENCES tasks (id),
      sprint_run_id uuid REFERENCES sprint_runs (id),
      -- The product the subject belongs to: ownership checks and owner-scoped lists read it here.
      product_id uuid NOT NULL REFERENCES products (id),
      subject_id uuid NOT NULL GENERATED ALWAYS AS (coalesce(task_id, idea_id, sprint_run_id)) STORED,
      payload jsonb NOT NULL DEFAULT '{}',
      result jsonb,
      error jsonb,
      claimed_by_token_id uuid REFERENCES api_tokens (id),
      claimed_by_worker_id uuid,
      claim_epoch integer NOT NULL DEFAULT 0,
      claimed_at timestamptz,
      lease_expires_at timestamptz,
      attempt_count integer NOT NULL DEFAULT 0,
      requeue_count integer NOT NULL DEFAULT 0,
      retry_of_job_id uuid REFERENCES claude_jobs (id),
      input_tokens integer,
      output_tokens integer,
      cost_usd numeric(14, 6),
      created_by_token_id uuid REFERENCES api_tokens (id),
      started_at timestamptz,
      finished_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      -- Each kind names exactly its subject (a per-task sprint run's task job also names its run).
      CONSTRAINT claude_jobs_subject_check CHECK (
        CASE kind
          WHEN 'TASK_IMPLEMENTATION' THEN task_id IS NOT NULL AND idea_id IS NULL
          WHEN 'SPRINT_IMPLEMENTATION' THEN sprint_run_id IS NOT NULL AND idea_id IS NULL AND task_id IS NULL
          ELSE idea_id IS NOT NULL AND task_id IS NULL AND sprint_run_id IS NULL
        END
      )
    )
  `.execute(db);
  await sql`CREATE INDEX claude_jobs_created_idx ON claude_jobs (created_at)`.execute(db);
  await sql`CREATE INDEX claude_jobs_subject_idx ON claude_jobs (subject_id, created_at)`.execute(db);
  await sql`CREATE INDEX claude_jobs_product_idx ON claude_jobs (product_id, created_at)`.execute(db);
  // The queued set: superseding (newest per kind and subject) and the reconcile sweep.
  await sql`CREATE INDEX claude_jobs_queued_idx ON claude_jobs (kind, subject_id, created_at) WHERE status = 'QUEUED'`.execute(db);
  // The held set: stale claims and lapsed leases.
  await sql`
    CREATE INDEX claude_jobs_held_idx ON claude_jobs (lease_expires_at)
      WHERE status IN ('CLAIMED', 'RUNNING')
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE claude_jobs`.execute(db);
}
