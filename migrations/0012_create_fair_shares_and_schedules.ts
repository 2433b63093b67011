import { type Kysely, sql } from 'kysely';

/**
 * Fair shares and schedules (SPEC "Fair shares and schedules"):
 * - claude_jobs.owner_id: the owner of the job's product, kept on the job (products never change
 *   owner) so that the running and queued counts per owner read one index, not a join;
 * - claude_jobs.turn: the job's turn in its kind (src/fairness/turns.ts): BullMQ's priority, so
 *   owners take turns within a kind; the two partial indexes find an owner's last turn and the
 *   kind's first turn still queued;
 * - owner_caps: an admin's per-owner cap on running jobs (null: none) over OWNER_MAX_RUNNING;
 * - schedules: recurring enqueues, the truth the sweeper installs BullMQ job schedulers from;
 * - schedule_firings: one row per firing, unique per schedule and fire time, so that a firing
 *   delivered twice enqueues once.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE claude_jobs ADD COLUMN owner_id text`.execute(db);
  await sql`UPDATE claude_jobs j SET owner_id = p.owner_id FROM products p WHERE p.id = j.product_id`.execute(db);
  await sql`ALTER TABLE claude_jobs ALTER COLUMN owner_id SET NOT NULL`.execute(db);
  await sql`ALTER TABLE claude_jobs ADD COLUMN turn integer NOT NULL DEFAULT 1 CHECK (turn >= 1)`.execute(db);
  await sql`CREATE INDEX claude_jobs_owner_turns_idx ON claude_jobs (kind, owner_id, turn) WHERE status = 'QUEUED'`.execute(db);
  await sql`CREATE INDEX claude_jobs_kind_turns_idx ON claude_jobs (kind, turn) WHERE status = 'QUEUED'`.execute(db);
  await sql`CREATE INDEX claude_jobs_owner_held_idx ON claude_jobs (owner_id, kind, turn) WHERE status IN ('CLAIMED', 'RUNNING')`.execute(
    db,
  );
  await sql`CREATE INDEX claude_jobs_kind_held_idx ON claude_jobs (kind, turn) WHERE status IN ('CLAIMED', 'RUNNING')`.execute(db);
  // The turn arithmetic of src/fairness/turns.ts, per (kind, owner): the kind's front and the
  // owner's back. A function, so that each connection plans its probes once and keeps the plans
  // (planned with every enqueue, four subqueries cost more than they ran, and a table grown faster
  // than its statistics got bitmap scans over every queued job of the kind instead of probes).
  await sql`
    CREATE FUNCTION jobfleet_turn_bounds(kinds text[], owners text[])
    RETURNS TABLE (pair_kind text, pair_owner text, front integer, back integer)
    LANGUAGE plpgsql STABLE AS $$
    BEGIN
      FOR i IN 1 .. coalesce(array_length(kinds, 1), 0) LOOP
        pair_kind := kinds[i];
        pair_owner := owners[i];
        front := greatest(
          (SELECT h.turn FROM claude_jobs h WHERE h.kind = pair_kind AND h.status IN ('CLAIMED', 'RUNNING')
            ORDER BY h.turn DESC LIMIT 1),
          (SELECT q.turn FROM claude_jobs q WHERE q.kind = pair_kind AND q.status = 'QUEUED' ORDER BY q.turn LIMIT 1));
        back := greatest(
          (SELECT q.turn FROM claude_jobs q WHERE q.kind = pair_kind AND q.owner_id = pair_owner AND q.status = 'QUEUED'
            ORDER BY q.turn DESC LIMIT 1),
          (SELECT h.turn FROM claude_jobs h WHERE h.owner_id = pair_owner AND h.kind = pair_kind AND h.status IN ('CLAIMED', 'RUNNING')
            ORDER BY h.turn DESC LIMIT 1));
        RETURN NEXT;
      END LOOP;
    END
    $$
  `.execute(db);
  await sql`
    CREATE TABLE owner_caps (
      owner_id text PRIMARY KEY,
      max_running integer NULL CHECK (max_running >= 0),
      updated_by_token_id uuid NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);
  await sql`
    CREATE TABLE schedules (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      owner_id text NOT NULL,
      product_id uuid NOT NULL REFERENCES products (id),
      kind text NOT NULL,
      idea_id uuid NULL REFERENCES ideas (id),
      task_id uuid NULL REFERENCES tasks (id),
      sprint_id uuid NULL REFERENCES sprints (id),
      payload jsonb NOT NULL DEFAULT '{}',
      cron text NULL,
      every_ms bigint NULL CHECK (every_ms > 0),
      timezone text NOT NULL DEFAULT 'UTC',
      enabled boolean NOT NULL DEFAULT true,
      -- Raised by every change: the sweeper installs a scheduler again when Redis holds an older one.
      revision integer NOT NULL DEFAULT 1,
      created_by_token_id uuid NULL,
      last_fired_at timestamptz NULL,
      last_job_id uuid NULL,
      last_outcome text NULL,
      last_reason text NULL,
      firing_count integer NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT schedules_timing_check CHECK ((cron IS NULL) <> (every_ms IS NULL)),
      CONSTRAINT schedules_subject_check CHECK (num_nonnulls(idea_id, task_id, sprint_id) = 1)
    )
  `.execute(db);
  await sql`CREATE INDEX schedules_owner_idx ON schedules (owner_id, created_at)`.execute(db);
  await sql`
    CREATE TABLE schedule_firings (
      schedule_id uuid NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
      fired_for timestamptz NOT NULL,
      job_id uuid NULL,
      outcome text NOT NULL CHECK (outcome IN ('enqueued', 'skipped')),
      reason text NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (schedule_id, fired_for)
    )
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE schedule_firings`.execute(db);
  await sql`DROP TABLE schedules`.execute(db);
  await sql`DROP TABLE owner_caps`.execute(db);
  await sql`DROP FUNCTION jobfleet_turn_bounds(text[], text[])`.execute(db);
  await sql`DROP INDEX claude_jobs_kind_held_idx`.execute(db);
  await sql`DROP INDEX claude_jobs_owner_held_idx`.execute(db);
  await sql`DROP INDEX claude_jobs_kind_turns_idx`.execute(db);
  await sql`DROP INDEX claude_jobs_owner_turns_idx`.execute(db);
  await sql`ALTER TABLE claude_jobs DROP COLUMN turn`.execute(db);
  await sql`ALTER TABLE claude_jobs DROP COLUMN owner_id`.execute(db);
}
