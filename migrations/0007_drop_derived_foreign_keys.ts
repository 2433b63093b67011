import { type Kysely, sql } from 'kysely';

/**
 * Foreign keys on columns the code derives, never a request: each one was a trigger per row on
 * the hottest statements, and together they were most of their cost (a 1,000-job enqueue spent
 * 85 of its 106 ms in them; a claim a third of its time). What they guarded cannot happen here:
 * - claude_jobs.claimed_by_token_id and created_by_token_id are the authenticated caller's
 *   token, and tokens are revoked, never deleted;
 * - claude_jobs.product_id is copied from the job's subject in the same transaction, and
 *   products are never deleted;
 * - idea_logs.idea_id comes from a job or idea row read in the same transaction, and ideas are
 *   never deleted.
 * The job's subject (idea, task, sprint run) keeps its foreign key: it comes from the request.
 */
const DROPPED = [
  { table: 'claude_jobs', column: 'claimed_by_token_id', references: 'api_tokens' },
  { table: 'claude_jobs', column: 'created_by_token_id', references: 'api_tokens' },
  { table: 'claude_jobs', column: 'product_id', references: 'products' },
  { table: 'idea_logs', column: 'idea_id', references: 'ideas' },
] as const;

const constraintOf = (key: (typeof DROPPED)[number]) => `${key.table}_${key.column}_fkey`;

export async function up(db: Kysely<any>): Promise<void> {
  for (const key of DROPPED) {
    await sql`ALTER TABLE ${sql.table(key.table)} DROP CONSTRAINT ${sql.id(constraintOf(key))}`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const key of DROPPED) {
    await sql`
      ALTER TABLE ${sql.table(key.table)} ADD CONSTRAINT ${sql.id(constraintOf(key))}
        FOREIGN KEY (${sql.id(key.column)}) REFERENCES ${sql.table(key.references)} (id)
    `.execute(db);
  }
}
