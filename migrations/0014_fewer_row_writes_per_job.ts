import { type Kysely, sql } from 'kysely';

/**
 * Less for Postgres to write per job (issue 21):
 * - idea_logs: one index instead of two. A chat job writes two log rows (the message at enqueue,
 *   the reply at finish), and each took an entry in the primary key on its random uuid, which no
 *   query reads, besides the (idea_id, created_at) index every read goes through. The primary key
 *   is now (idea_id, created_at, id): the one index the log's reads use (the API's list in exactly
 *   its order, the chat's last messages), and it keeps a row's identity unique; id stays a
 *   gen_random_uuid default, unique by construction.
 * - claude_jobs: room on each page (fillfactor 60), so that the claim's and the finish's new
 *   versions of a row land on its own page instead of a page at the table's end: fewer pages
 *   dirtied and written to the WAL. They are still not HOT updates: the status is in the live-job
 *   indexes' predicates. Only pages written from now on keep the room.
 *
 * Nothing in the code depends on either: migrate before or after upgrading the processes. The
 * index is built while the table is locked against writes (as in 0013): on a large idea_logs,
 * migrate at a quiet time.
 */
export async function up(db: Kysely<any>): Promise<void> {
  // claude_jobs first: its lock may wait for a vacuum, and it must not wait while idea_logs is
  // already held against every read and write.
  await sql`ALTER TABLE claude_jobs SET (fillfactor = 60)`.execute(db);
  await sql`CREATE UNIQUE INDEX idea_logs_log_idx ON idea_logs (idea_id, created_at, id)`.execute(db);
  await sql`
    ALTER TABLE idea_logs DROP CONSTRAINT idea_logs_pkey, ADD CONSTRAINT idea_logs_pkey PRIMARY KEY USING INDEX idea_logs_log_idx
  `.execute(db);
  await sql`DROP INDEX idea_logs_idea_idx`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE claude_jobs RESET (fillfactor)`.execute(db);
  await sql`CREATE INDEX idea_logs_idea_idx ON idea_logs (idea_id, created_at)`.execute(db);
  await sql`ALTER TABLE idea_logs DROP CONSTRAINT idea_logs_pkey, ADD CONSTRAINT idea_logs_pkey PRIMARY KEY (id)`.execute(db);
}
