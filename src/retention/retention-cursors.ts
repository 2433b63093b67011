/**
 * Where each retention walk stopped (migrations/0017 retention_cursors), kept in Postgres so that
 * a sweeper that takes over the lead goes on from there, and written in the transaction that
 * deleted up to it: a walk never skips rows it did not judge.
 */
import { sql } from 'kysely';
import type { Executor } from '../db/database.js';

export type RetentionWalk = 'transitions' | 'claude_jobs' | 'held_jobs' | 'workers';

export async function readCursor(db: Executor, walk: RetentionWalk): Promise<string | null> {
  const row = await db.selectFrom('retention_cursors').select('position').where('name', '=', walk).executeTakeFirst();
  return row?.position ?? null;
}

export async function writeCursor(db: Executor, walk: RetentionWalk, position: string): Promise<void> {
  await db
    .insertInto('retention_cursors')
    .values({ name: walk, position })
    .onConflict((oc) => oc.column('name').doUpdateSet({ position, updated_at: sql<Date>`now()` }))
    .execute();
}

/** The lowest uuid: where a walk over a uuid key starts, and starts again once it reached the end. */
export const FIRST_UUID = '00000000-0000-0000-0000-000000000000';
