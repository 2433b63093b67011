import type { Executor } from '../db/database.js';
import type { TransitionRow } from '../db/tables/transition.table.js';
import type { EntityType } from '../machines/index.js';

/** Every status change of one entity, oldest first. */
export async function listHistory(db: Executor, entity: EntityType, id: string): Promise<TransitionRow[]> {
  return db.selectFrom('transitions').selectAll().where('entity_type', '=', entity).where('entity_id', '=', id).orderBy('id').execute();
}
