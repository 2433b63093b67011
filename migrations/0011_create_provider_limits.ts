import { type Kysely, sql } from 'kysely';

/**
 * Provider limits and budgets (SPEC "Provider limits and budgets"):
 * - providers: each provider's state (ACTIVE or PAUSED, through the door: its pauses and resumes
 *   are history rows and live events), why and until when it is paused, and the kinds it pauses.
 *   Postgres is the truth; the queues' pause in Redis is put back from here after Redis loses it;
 * - owner_budgets: an admin's per-owner daily budget (null: none), over OWNER_DAILY_BUDGET_USD;
 * - owner_daily_spend: what each owner's jobs cost per UTC day, added when a job ends;
 * - claude_jobs.budget: the job's own ceilings as enqueued (kind defaults apply beneath them);
 * - workers.provider: whose limits a worker's executor runs under, so that a pause knows which
 *   kinds the provider serves across the fleet.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE providers (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL UNIQUE,
      status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'PAUSED')),
      reason text NULL CHECK (reason IN ('rate_limit', 'overloaded', 'spend_limit')),
      message text NULL,
      paused_at timestamptz NULL,
      resume_at timestamptz NULL,
      kinds text[] NOT NULL DEFAULT '{}',
      pause_count integer NOT NULL DEFAULT 0,
      overload_streak integer NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);
  await sql`
    CREATE TABLE owner_budgets (
      owner_id text PRIMARY KEY,
      daily_usd numeric(14, 6) NULL CHECK (daily_usd >= 0),
      updated_by_token_id uuid NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);
  await sql`
    CREATE TABLE owner_daily_spend (
      owner_id text NOT NULL,
      day date NOT NULL,
      cost_usd numeric(20, 6) NOT NULL DEFAULT 0,
      PRIMARY KEY (owner_id, day)
    )
  `.execute(db);
  await sql`ALTER TABLE claude_jobs ADD COLUMN budget jsonb NULL`.execute(db);
  await sql`ALTER TABLE workers ADD COLUMN provider text NULL`.execute(db);
  await sql`ALTER TABLE transitions DROP CONSTRAINT transitions_entity_type_check`.execute(db);
  await sql`
    ALTER TABLE transitions ADD CONSTRAINT transitions_entity_type_check CHECK (entity_type IN (
      'PBI', 'STORY', 'TASK', 'SPRINT', 'SPRINT_RUN', 'CLAUDE_JOB', 'IDEA', 'STEP', 'PROVIDER'
    ))
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DELETE FROM transitions WHERE entity_type = 'PROVIDER'`.execute(db);
  await sql`ALTER TABLE transitions DROP CONSTRAINT transitions_entity_type_check`.execute(db);
  await sql`
    ALTER TABLE transitions ADD CONSTRAINT transitions_entity_type_check CHECK (entity_type IN (
      'PBI', 'STORY', 'TASK', 'SPRINT', 'SPRINT_RUN', 'CLAUDE_JOB', 'IDEA', 'STEP'
    ))
  `.execute(db);
  await sql`ALTER TABLE workers DROP COLUMN provider`.execute(db);
  await sql`ALTER TABLE claude_jobs DROP COLUMN budget`.execute(db);
  await sql`DROP TABLE owner_daily_spend`.execute(db);
  await sql`DROP TABLE owner_budgets`.execute(db);
  await sql`DROP TABLE providers`.execute(db);
}
