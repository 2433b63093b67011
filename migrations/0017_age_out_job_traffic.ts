import { type Kysely, sql } from 'kysely';

/**
 * Retention of job traffic (issue 23): the sweeper deletes finished jobs, their history and their
 * job-event logs once they are older than JOB_RETENTION_DAYS, and job history older than
 * HISTORY_RETENTION_DAYS, a bounded batch per sweep (src/retention).
 *
 * - retention_cursors: where each walk stopped, so a sweep starts where the last one (of any
 *   leader) left off and never reads what it already judged: the history walk keeps the last
 *   transitions.id it judged, the job walk the last (created_at, id) of claude_jobs_created_idx,
 *   the ring walks (held-back jobs, stopped workers) the last id they looked at. Positions are
 *   text: a timestamp keeps its microseconds, which a JS Date would drop.
 * - retention_held_jobs: jobs the job walk passed while they could not go yet (still live, or
 *   finished after they turned old). The walk does not come back for them; the sweeper looks at
 *   these few again instead of reading the old end of claude_jobs every sweep.
 * - claude_jobs.retry_of_job_id loses its foreign key, as the derived keys did in 0007: the
 *   column is written by the code from the failed job it retries, never from a request. With the
 *   key, deleting an original would look for its retries in a table with no index on the column
 *   (a sequential scan of claude_jobs per deleted job) and fail while a retry is kept; an index
 *   would be paid by every insert. Without it, a kept retry may name an original that is gone:
 *   the API then answers 404 for that id, as for any job that aged out.
 *
 * Partitioning the history by time was weighed and not chosen. transitions holds the backlog's
 * history, which is kept for ever, beside the job traffic, which ages out: a time partition could
 * only be dropped once job history lives in a table of its own, the identity primary key (which
 * is also the event stream's id) would have to include created_at, and converting an existing
 * table rewrites it under lock. Deleting in batches by primary key from a remembered position
 * costs each sweep the same whatever the table's size, and autovacuum reuses the space.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE retention_cursors (
      name text PRIMARY KEY,
      position text NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);
  await sql`CREATE TABLE retention_held_jobs (job_id uuid PRIMARY KEY)`.execute(db);
  await sql`ALTER TABLE claude_jobs DROP CONSTRAINT claude_jobs_retry_of_job_id_fkey`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  // Retries whose original aged out keep no dangling id, or the key could not be added again.
  await sql`
    UPDATE claude_jobs r SET retry_of_job_id = NULL
    WHERE retry_of_job_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM claude_jobs o WHERE o.id = r.retry_of_job_id)
  `.execute(db);
  await sql`
    ALTER TABLE claude_jobs ADD CONSTRAINT claude_jobs_retry_of_job_id_fkey
      FOREIGN KEY (retry_of_job_id) REFERENCES claude_jobs (id)
  `.execute(db);
  await sql`DROP TABLE retention_held_jobs`.execute(db);
  await sql`DROP TABLE retention_cursors`.execute(db);
}
