/**
 * The door's other half: rows are born here, in their machine's initial status (the column
 * default), each with a history row from nothing to that status, in the caller's transaction.
 */
import { type Insertable, type Selectable, sql } from 'kysely';
import type { Database, Trx } from '../db/database.js';
import type { AnyMachine } from '../machines/index.js';
import { notifyHistory } from './history-notice.js';
import type { TransitionContext } from './transition-types.js';

type TableOf<M extends AnyMachine> = M['table'];

export interface Created<Row> {
  row: Row;
  historyId: string;
}

export async function createEntities<M extends AnyMachine>(
  trx: Trx,
  machine: M,
  values: readonly Insertable<Database[TableOf<M>]>[],
  context: TransitionContext = {},
): Promise<Created<Selectable<Database[TableOf<M>]>>[]> {
  if (values.length === 0) return [];
  const insert = trx
    .insertInto(machine.table as TableOf<AnyMachine>)
    .values(values as any)
    .returningAll();
  const artifacts = context.artifacts === undefined || context.artifacts === null ? null : JSON.stringify(context.artifacts);
  // The rows and their history in one statement. History ids follow the order rows were
  // inserted in (the order of `values`), so sorting by them gives the rows back in that order.
  const { rows } = await sql<Selectable<Database[TableOf<M>]> & { __history: string }>`
    WITH ins AS (${insert}),
    hist AS (
      INSERT INTO transitions (entity_type, entity_id, from_status, to_status, trigger, actor_token_id, reason, artifacts)
      SELECT ${machine.entity}, ins.id, NULL, ins.status, 'created', ${context.actorTokenId ?? null}::uuid, ${context.reason ?? null}, ${artifacts}::jsonb
      FROM ins
      RETURNING id, entity_id
    )
    SELECT ins.*, hist.id AS __history
    FROM ins JOIN hist ON hist.entity_id = ins.id CROSS JOIN (SELECT ${notifyHistory('hist')} AS notified) AS notice
    ORDER BY hist.id
  `.execute(trx);

  return rows.map(({ __history, ...row }) => ({ row: row as unknown as Selectable<Database[TableOf<M>]>, historyId: __history }));
}

export async function createEntity<M extends AnyMachine>(
  trx: Trx,
  machine: M,
  values: Insertable<Database[TableOf<M>]>,
  context: TransitionContext = {},
): Promise<Created<Selectable<Database[TableOf<M>]>>> {
  const [created] = await createEntities(trx, machine, [values], context);
  return created!;
}
