import { type Kysely, sql } from 'kysely';

/**
 * A product may name the git repository its implementation jobs work in: where it lives, the
 * branch new work starts from, and the command that verifies a job's work. No repository (NULL)
 * keeps today's behaviour: jobs run in the worker's directory and nothing is committed or pushed.
 * The values are validated by the API and the CLI before they get here.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE products
      ADD COLUMN repository_url text NULL,
      ADD COLUMN default_branch text NOT NULL DEFAULT 'main',
      ADD COLUMN check_command text NULL
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE products
      DROP COLUMN check_command,
      DROP COLUMN default_branch,
      DROP COLUMN repository_url
  `.execute(db);
}
