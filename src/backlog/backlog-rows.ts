/**
 * Reading and editing backlog rows the same way for every table: by id within the caller's
 * owner, as pages filtered by columns and statuses, and edits of editable columns only. The
 * routes decide what is editable; nothing here writes a status.
 */
import { sql } from 'kysely';
import type { Database, Executor, Trx } from '../db/database.js';
import { fetchPage, type Page, type PageOf } from '../db/pagination.js';
import { AppError } from '../errors/app-error.js';
import { type OwnedEntity, nounOf, visibleOwnership } from './ownership.js';
import { ownerScope } from './owner-scope.js';

export type BacklogTable = 'products' | 'pbis' | 'stories' | 'tasks' | 'sprints' | 'sprint_runs' | 'steps' | 'ideas';
export type Row<T extends BacklogTable> = import('kysely').Selectable<Database[T]>;

/** Each backlog entity's table, kept literal so the row functions below answer that table's row type. */
export const TABLE_OF = {
  PRODUCT: 'products',
  PBI: 'pbis',
  STORY: 'stories',
  TASK: 'tasks',
  SPRINT: 'sprints',
  SPRINT_RUN: 'sprint_runs',
  STEP: 'steps',
  IDEA: 'ideas',
} as const satisfies Record<Exclude<OwnedEntity, 'CLAUDE_JOB'>, BacklogTable>;

export async function getVisibleRow<E extends keyof typeof TABLE_OF>(
  db: Executor,
  entity: E,
  id: string,
  ownerId: string | null,
): Promise<Row<(typeof TABLE_OF)[E]>> {
  await visibleOwnership(db, entity, id, ownerId);
  const table = TABLE_OF[entity];
  const row = await (db as Executor)
    .selectFrom(table as 'pbis')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw new AppError('not_found', `${nounOf(entity)} ${id} does not exist`, { id });
  return row as unknown as Row<(typeof TABLE_OF)[E]>;
}

export interface ListOptions {
  /** Equality filters on columns of the table. */
  equals?: Record<string, string | undefined>;
  statuses?: readonly string[] | undefined;
  /** Only rows under this owner's products (null: every owner). */
  ownerId: string | null;
  page: Page;
}

export async function listVisibleRows<E extends keyof typeof TABLE_OF>(
  db: Executor,
  entity: E,
  options: ListOptions,
): Promise<PageOf<Row<(typeof TABLE_OF)[E]>>> {
  const table = TABLE_OF[entity];
  let query = (db as Executor).selectFrom(table as 'pbis').selectAll(table as 'pbis');
  for (const [column, value] of Object.entries(options.equals ?? {})) {
    if (value !== undefined) query = query.where(sql.ref(`${table}.${column}`), '=', value);
  }
  if (options.statuses?.length) query = query.where(sql.ref(`${table}.status`), 'in', options.statuses);
  if (options.ownerId !== null) {
    if (entity === 'PRODUCT') {
      query = query.where(sql.ref('products.owner_id'), '=', options.ownerId);
    } else {
      const scope = await ownerScope(db, entity as Exclude<E, 'PRODUCT'>, table, options.ownerId);
      if (scope === null) return { items: [], next: null };
      query = query.where(scope);
    }
  }
  return (await fetchPage(query, table, options.page)) as unknown as PageOf<Row<(typeof TABLE_OF)[E]>>;
}

/** Writes the given columns (never status) and bumps updated_at; returns the row. */
export async function updateColumns<E extends keyof typeof TABLE_OF>(
  trx: Trx,
  entity: E,
  id: string,
  columns: Record<string, unknown>,
): Promise<Row<(typeof TABLE_OF)[E]>> {
  const entries = Object.entries(columns).filter(([, value]) => value !== undefined);
  if (entries.some(([column]) => column === 'status' || column === 'id')) throw new Error('updateColumns: status and id are not editable');
  const table = TABLE_OF[entity];
  const set = Object.fromEntries([...entries, ['updated_at', new Date()]]);
  const row = await trx
    .updateTable(table as 'pbis')
    .set(set as never)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return row as unknown as Row<(typeof TABLE_OF)[E]>;
}
