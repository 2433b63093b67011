import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE sprint_runs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      sprint_id uuid NOT NULL REFERENCES sprints (id),
      mode text NOT NULL CONSTRAINT sprint_runs_mode_check CHECK (mode IN ('PER_TASK', 'SPRINT_BATCH')),
      status text NOT NULL DEFAULT 'QUEUED'
        CONSTRAINT sprint_runs_status_check CHECK (status IN ('QUEUED', 'RUNNING', 'PAUSED', 'DONE', 'FAILED', 'CANCELLED')),
      result jsonb,
      error text,
      started_at timestamptz,
      finished_at timestamptz,
      created_by_token_id uuid REFERENCES api_tokens (id),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);
  await sql`CREATE INDEX sprint_runs_sprint_idx ON sprint_runs (sprint_id, created_at)`.execute(db);
  // At most one run per sprint is active at a time, whatever races the API loses.
  await sql`
    CREATE UNIQUE INDEX sprint_runs_one_active_idx ON sprint_runs (sprint_id)
      WHERE status IN ('QUEUED', 'RUNNING', 'PAUSED')
  `.execute(db);

  await sql`
    CREATE TABLE steps (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      sprint_run_id uuid NOT NULL REFERENCES sprint_runs (id),
      task_id uuid REFERENCES tasks (id),
      position integer NOT NULL,
      name text NOT NULL,
      status text NOT NULL DEFAULT 'PENDING'
        CONSTRAINT steps_status_check CHECK (status IN ('PENDING', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'SKIPPED')),
      agent text,
      -- The TASK_IMPLEMENTATION job that runs this step (per-task runs).
      job_id uuid,
      output jsonb,
      metadata jsonb NOT NULL DEFAULT '{}',
      started_at timestamptz,
      completed_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (sprint_run_id, position)
    )
  `.execute(db);
  await sql`CREATE INDEX steps_task_idx ON steps (task_id) WHERE task_id IS NOT NULL`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE steps`.execute(db);
  await sql`DROP TABLE sprint_runs`.execute(db);
}
