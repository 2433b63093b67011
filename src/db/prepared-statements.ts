/**
 * Named prepared statements for the statements a worker runs for every batch (the door's
 * transition, the prompt reads). Postgres parses and plans a statement each time it arrives
 * unnamed: for the door's statement that was half a millisecond a batch, a tenth of Postgres's
 * time in the bench. A statement marked with `prepared()` is parsed once per connection and
 * then only bound and executed (the pool's client, database-client.ts, does the sending).
 *
 * Only statements whose text does not grow with their input may be marked (they pass arrays,
 * never a list of values): each distinct text stays prepared on every connection that ran it.
 *
 * After five runs Postgres may keep one generic plan per connection, made from the tables' sizes
 * at that moment, until a table is analyzed again (autovacuum does so each time one grows by a
 * tenth). A marked statement can so run a plan made for a smaller table: one made while
 * `claude_jobs` held a few hundred rows scanned the whole table in every claim once it held
 * 50,000 (17 ms for 25 jobs, against 3 ms planned afresh) until an analyze replaced it, which
 * autovacuum does within about a minute. The door's statements pay that risk to skip 0.4 ms of
 * planning per batch; lookups that run less often and whose plan depends more on the data (the
 * ownership chains, the supersede probe) stay unprepared.
 */
import { createHash } from 'node:crypto';
import { type RawBuilder, sql } from 'kysely';
import type pg from 'pg';

const MARK = '/* prepared */ ';

/** Marks a statement to run as a named prepared statement. */
export function prepared<T>(statement: RawBuilder<T>): RawBuilder<T> {
  return sql<T>`${sql.raw(MARK)}${statement}`;
}

const names = new Map<string, string>();
function nameOf(text: string): string {
  let name = names.get(text);
  if (!name) {
    name = `jf_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
    names.set(text, name);
  }
  return name;
}

/**
 * The named query to send for a marked statement (`query(text, values)` as Kysely calls it), or
 * null for any other call. `generation` renames every statement after a stale plan (below).
 */
export function preparedQueryOf(args: unknown[], generation: number): pg.QueryConfig | null {
  const [text, values] = args;
  if (typeof text !== 'string' || !text.startsWith(MARK) || !Array.isArray(values) || args.length !== 2) return null;
  return { name: `${nameOf(text)}_${generation}`, text, values };
}

/**
 * Postgres refuses to run a prepared statement whose result columns changed under it (a
 * migration added a column to a table it returns `*` of); the client then prepares statements
 * again under new names.
 */
export function isStalePlan(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return e.code === '0A000' && /cached plan must not change result type/.test(e.message ?? '');
}
