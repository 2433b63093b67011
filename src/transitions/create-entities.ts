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
  const rows = (await trx
    .insertInto(machine.table as TableOf<AnyMachine>)
    .values(values as any)
    .returningAll()
    .execute()) as unknown as (Selectable<Database[TableOf<M>]> & { id: string; status: string })[];

  const artifacts = context.artifacts === undefined || context.artifacts === null ? null : JSON.stringify(context.artifacts);
  const history = await sql<{ id: string }>`
    WITH hist AS (
      INSERT INTO transitions (entity_type, entity_id, from_status, to_status, trigger, actor_token_id, reason, artifacts)
      SELECT ${machine.entity}, r.id, NULL, r.status, 'created', ${context.actorTokenId ?? null}::uuid, ${context.reason ?? null}, ${artifacts}::jsonb
      FROM unnest(${rows.map((r) => r.id)}::uuid[], ${rows.map((r) => r.status)}::text[]) WITH ORDINALITY AS r(id, status, ord)
      ORDER BY r.ord
      RETURNING id
    )
    SELECT hist.id FROM hist CROSS JOIN (SELECT ${notifyHistory('hist')} AS notified) AS notice ORDER BY hist.id
  `.execute(trx);

  return rows.map((row, index) => ({ row, historyId: history.rows[index]!.id }));
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
