import { type Kysely, sql } from 'kysely';

/**
 * Worker leases (SPEC "Scale-out": holding many agents stays cheap):
 * - a job a worker process holds hangs from its worker's lease: its lease_expires_at stays NULL
 *   and its worker's heartbeat writes one row, the workers row, however many jobs it runs; a
 *   job with its own lease (pull mode's job_heartbeat) keeps lease_expires_at;
 * - workers: no index on heartbeat_at (the live set is indexed by what never changes while a
 *   worker lives) and room on each page, so that a beat is a HOT update;
 * - claude_jobs: the held set indexed three ways for the sweep: jobs with their own lease by its
 *   end, jobs on a worker's lease by worker (a skip scan finds the holders), CLAIMED jobs by the
 *   time of their claim.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX workers_live_idx`.execute(db);
  await sql`CREATE INDEX workers_live_idx ON workers (token_id) WHERE stopped_at IS NULL`.execute(db);
  await sql`ALTER TABLE workers SET (fillfactor = 50)`.execute(db);
  await sql`DROP INDEX claude_jobs_held_idx`.execute(db);
  await sql`
    CREATE INDEX claude_jobs_leased_idx ON claude_jobs (lease_expires_at)
      WHERE status IN ('CLAIMED', 'RUNNING') AND lease_expires_at IS NOT NULL
  `.execute(db);
  await sql`
    CREATE INDEX claude_jobs_worker_held_idx ON claude_jobs (claimed_by_worker_id)
      WHERE status IN ('CLAIMED', 'RUNNING') AND lease_expires_at IS NULL
  `.execute(db);
  await sql`CREATE INDEX claude_jobs_claimed_idx ON claude_jobs (claimed_at) WHERE status = 'CLAIMED'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  // Jobs on a worker's lease get one of their own again, as long as the old sweep gives a lease.
  await sql`
    UPDATE claude_jobs SET lease_expires_at = now() + interval '30 seconds'
    WHERE status IN ('CLAIMED', 'RUNNING') AND lease_expires_at IS NULL
  `.execute(db);
  await sql`DROP INDEX claude_jobs_claimed_idx`.execute(db);
  await sql`DROP INDEX claude_jobs_worker_held_idx`.execute(db);
  await sql`DROP INDEX claude_jobs_leased_idx`.execute(db);
  await sql`
    CREATE INDEX claude_jobs_held_idx ON claude_jobs (lease_expires_at)
      WHERE status IN ('CLAIMED', 'RUNNING')
  `.execute(db);
  await sql`ALTER TABLE workers RESET (fillfactor)`.execute(db);
  await sql`DROP INDEX workers_live_idx`.execute(db);
  await sql`CREATE INDEX workers_live_idx ON workers (heartbeat_at) WHERE stopped_at IS NULL`.execute(db);
}
