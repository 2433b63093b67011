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
  /** Left out of an insert, the column takes something other than NULL (a default, an identity). */
  hasDefault: boolean;
}

export type ColumnTypes = Map<string, ColumnType>;

// One process serves one database, whose tables keep their columns' types across migrations; a
// column a migration adds while the process runs is found by reading the table again (below).
const cache = new Map<string, Promise<ColumnTypes>>();

function read(db: Executor, table: string): Promise<ColumnTypes> {
  const types = sql<{ name: string; type: string; is_array: boolean; has_default: boolean }>`
    SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, t.typcategory = 'A' AS is_array,
      a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '' AS has_default
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    WHERE a.attrelid = ${table}::regclass AND a.attnum > 0 AND NOT a.attisdropped
  `
    .execute(db)
    .then(({ rows }) => new Map(rows.map((row) => [row.name, { sql: row.type, isArray: row.is_array, hasDefault: row.has_default }])));
  // A failed read (no such table yet) is not remembered.
  types.catch(() => cache.delete(table));
  cache.set(table, types);
  return types;
}

/** The table's column types; read again when `columns` names one the remembered ones lack. */
export async function columnTypesOf(db: Executor, table: string, columns: readonly string[] = []): Promise<ColumnTypes> {
  const known = await (cache.get(table) ?? read(db, table));
  return columns.every((column) => known.has(column)) ? known : read(db, table);
}
