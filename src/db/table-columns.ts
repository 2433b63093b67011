/**
 * The SQL type of each column of a table, read once per process from Postgres's catalog. The
 * door's inserts pass their rows as one JSON document and cast each field to its column's type
 * in SQL, so the statement's text stays the same for one row or a thousand (one prepared
 * statement, no list of values to parse and plan per call).
 */
import { sql } from 'kysely';
import type { Executor } from './database.js';

export interface ColumnType {
  /** As `format_type` writes it: `uuid`, `jsonb`, `timestamp with time zone`, `numeric(14,6)`. */
  sql: string;
  isArray: boolean;
}

const cache = new Map<string, Promise<Map<string, ColumnType>>>();

export function columnTypesOf(db: Executor, table: string): Promise<Map<string, ColumnType>> {
  let types = cache.get(table);
  if (!types) {
    types = sql<{ name: string; type: string; is_array: boolean }>`
      SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, t.typcategory = 'A' AS is_array
      FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = ${table}::regclass AND a.attnum > 0 AND NOT a.attisdropped
    `
      .execute(db)
      .then(({ rows }) => new Map(rows.map((row) => [row.name, { sql: row.type, isArray: row.is_array }])));
    // A failed read (no such table yet) is not remembered.
    types.catch(() => cache.delete(table));
    cache.set(table, types);
  }
  return types;
}
