/**
 * The door's other half: rows are born here, in their machine's initial status (the column
 * default), each with a history row from nothing to that status, in the caller's transaction.
 *
 * The rows travel as one JSON document and each field is cast to its column's type in SQL, so
 * one statement text serves a batch of any size: a list of values was a new statement for every
 * batch size, and cost the caller a parameter per field (5,000 for a thousand jobs). Values follow Kysely's conventions (JSON columns take JSON text).
 */
import { type Insertable, type Selectable, sql } from 'kysely';
import type { Database, Trx } from '../db/database.js';
import { jsonDocument } from '../db/json-document.js';
import { type ColumnType, type ColumnTypes, columnTypesOf } from '../db/table-columns.js';
import type { AnyMachine } from '../machines/index.js';
import { notifyHistory } from './history-notice.js';
import type { TransitionContext } from './transition-types.js';

type TableOf<M extends AnyMachine> = M['table'];
type RowOf<M extends AnyMachine> = Selectable<Database[TableOf<M>]>;

export interface Created<Row> {
  row: Row;
}

export async function createEntities<M extends AnyMachine>(
  trx: Trx,
  machine: M,
  values: readonly Insertable<Database[TableOf<M>]>[],
  context: TransitionContext = {},
): Promise<Created<RowOf<M>>[]> {
  if (values.length === 0) return [];
  const rows = values.map((value) => Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)));
  const named = [...new Set(rows.flatMap((row) => Object.keys(row)))].sort();
  const types = await columnTypesOf(trx, machine.table, named);

  const created: Created<RowOf<M>>[] = new Array(rows.length);
  for (const { columns, indexes } of shapesOf(rows, named, types, machine.table)) {
    const typed = columns.map((name) => [name, types.get(name)!] as const);
    const inserted = await insertShape<M>(trx, machine, typed, jsonDocument(indexes.map((i) => rows[i])), context);
    indexes.forEach((index, position) => (created[index] = { row: inserted[position]! }));
  }
  return created;
}

/**
 * The statements a batch needs: the columns each inserts, and the rows it takes. A row that
 * leaves out a column without a default gets NULL either way, so one statement naming every
 * column serves the whole batch, in its order; only a column with a default left out by some
 * rows splits the batch by the columns each row names (it never does for the fleet's batches).
 */
function shapesOf(rows: readonly Record<string, unknown>[], named: readonly string[], types: ColumnTypes, table: string) {
  for (const name of named) if (!types.has(name)) throw new Error(`${table} has no column ${name}`);
  const indexes = rows.map((_, index) => index);
  const defaulted = named.some((name) => types.get(name)!.hasDefault && rows.some((row) => !(name in row)));
  if (!defaulted) return [{ columns: [...named], indexes }];
  const shapes = new Map<string, { columns: string[]; indexes: number[] }>();
  for (const index of indexes) {
    const columns = named.filter((name) => name in rows[index]!);
    const key = columns.join(',');
    if (!shapes.has(key)) shapes.set(key, { columns, indexes: [] });
    shapes.get(key)!.indexes.push(index);
  }
  return [...shapes.values()];
}

export async function createEntity<M extends AnyMachine>(
  trx: Trx,
  machine: M,
  values: Insertable<Database[TableOf<M>]>,
  context: TransitionContext = {},
): Promise<Created<RowOf<M>>> {
  const [created] = await createEntities(trx, machine, [values], context);
  return created!;
}

/** One JSON field as a value of its column's type (JSON null and absent are SQL NULL). */
function field(name: string, type: ColumnType) {
  const value = sql`e.row -> ${name}`;
  if (type.isArray) {
    return sql`CASE WHEN jsonb_typeof(${value}) = 'array' THEN ARRAY(SELECT jsonb_array_elements_text(${value}))::${sql.raw(type.sql)} END`;
  }
  return sql`(e.row ->> ${name})::${sql.raw(type.sql)}`;
}

/** Inserts rows of one shape, in order; answers them in that order. */
async function insertShape<M extends AnyMachine>(
  trx: Trx,
  machine: M,
  columns: readonly (readonly [string, ColumnType])[],
  rows: string,
  context: TransitionContext,
): Promise<RowOf<M>[]> {
  const table = sql.table(machine.table);
  if (columns.length === 0) throw new Error(`a new ${machine.noun} needs at least one column`);
  const insert = sql`
    INSERT INTO ${table} (${sql.join(columns.map(([name]) => sql.id(name)))})
    SELECT ${sql.join(columns.map(([name, type]) => field(name, type)))}
    FROM jsonb_array_elements(${rows}::jsonb) WITH ORDINALITY AS e(row, ord)
    ORDER BY e.ord
    RETURNING *
  `;
  const artifacts = context.artifacts === undefined || context.artifacts === null ? null : JSON.stringify(context.artifacts);
  // History ids follow the order rows were inserted in, so sorting by them gives the rows back
  // in the order they were given.
  const { rows: inserted } = await sql<RowOf<M> & { __history: string }>`
    WITH ins AS (${insert}),
    hist AS (
      INSERT INTO transitions (entity_type, entity_id, from_status, to_status, trigger, actor_token_id, reason, artifacts)
      SELECT ${machine.entity}, ins.id, NULL, ins.status, 'created', ${context.actorTokenId ?? null}::uuid, ${context.reason ?? null}::text, ${artifacts}::jsonb
      FROM ins
      RETURNING id, entity_id
    )
    SELECT ins.*, hist.id AS __history
    FROM ins JOIN hist ON hist.entity_id = ins.id CROSS JOIN (SELECT ${notifyHistory('hist')} AS notified) AS notice
    ORDER BY hist.id
  `.execute(trx);
  return inserted.map(({ __history: _, ...row }) => row as unknown as RowOf<M>);
}
