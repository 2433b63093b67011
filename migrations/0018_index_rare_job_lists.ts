import { type Kysely, sql } from 'kysely';

/**
 * Lists of jobs whose filter matches few of many (issue 23): GET /api/v1/jobs, newest first,
 * with `sprint_run_id=` or `status=cancelled|skipped` read the jobs in creation order and kept
 * the few that matched, all of them when fewer than a page match: at millions of jobs, seconds
 * per call. Both indexes are partial, so what they cost a job's writes falls on the jobs they
 * hold only: a sprint's jobs, and a job once cancelled or skipped (its last write); the plain
 * queue (enqueue, claim, finish) writes no entry in either.
 *
 * Built while the table is locked against writes (as in 0013): on a large claude_jobs, migrate
 * at a quiet time.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX claude_jobs_sprint_run_idx ON claude_jobs (sprint_run_id, created_at) WHERE sprint_run_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX claude_jobs_dropped_idx ON claude_jobs (created_at) WHERE status IN ('CANCELLED', 'SKIPPED')`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX claude_jobs_dropped_idx`.execute(db);
  await sql`DROP INDEX claude_jobs_sprint_run_idx`.execute(db);
}
