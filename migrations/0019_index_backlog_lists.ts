import { type Kysely, sql } from 'kysely';

/**
 * The backlog lists (GET /ideas, /tasks, /stories, /pbis, /sprints, /sprint-runs, /steps) page
 * newest first by (created_at, id). Without an index in that order an unfiltered page sorted the
 * whole table (0.6 s at 800,000 ideas, per page), and a status filter read every row.
 *
 * - `<table>_created_idx (created_at, id)`: a page reads its rows and stops: unfiltered, an
 *   owner's while their rows are not rare (when they are, the planner goes through the parents'
 *   indexes instead, src/backlog/owner-scope.ts), a status that is not rare. Paid by the INSERT
 *   of a row only: created_at and id never change, so edits and status changes stay heap-only
 *   updates where the page has room.
 * - `<table>_status_idx (status, created_at, id)`: a page of one status reads that status's rows
 *   in order, however rare it is (the in-flight ideas among a year of planned ones read the whole
 *   table through the created index). Paid by the INSERT of a row and by every status change of
 *   one (a status change is then no longer heap-only: it writes an entry in each of the table's
 *   indexes). These tables change status a few times per row (per job at most, not per poll or
 *   heartbeat); claude_jobs, the hot path, is not touched.
 */
const TABLES = ['pbis', 'stories', 'tasks', 'ideas', 'sprints', 'sprint_runs', 'steps'] as const;

export async function up(db: Kysely<any>): Promise<void> {
  for (const table of TABLES) {
    await sql`CREATE INDEX ${sql.id(`${table}_created_idx`)} ON ${sql.table(table)} (created_at, id)`.execute(db);
    await sql`CREATE INDEX ${sql.id(`${table}_status_idx`)} ON ${sql.table(table)} (status, created_at, id)`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of TABLES) {
    await sql`DROP INDEX ${sql.id(`${table}_status_idx`)}`.execute(db);
    await sql`DROP INDEX ${sql.id(`${table}_created_idx`)}`.execute(db);
  }
}
