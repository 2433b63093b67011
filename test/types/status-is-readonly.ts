/**
 * Compile-time proof that the typed query builder cannot write a status column: `npm test`
 * type-checks this file, and each `@ts-expect-error` fails the build if the line compiles.
 * Nothing here runs.
 */
import type { Db } from '../../src/db/database.js';

export function statusWritesDoNotCompile(db: Db) {
  // @ts-expect-error status is not updatable outside the transition door
  db.updateTable('tasks').set({ status: 'DONE' });
  // @ts-expect-error status is not updatable outside the transition door
  db.updateTable('claude_jobs').set({ status: 'QUEUED' });
  // @ts-expect-error status is not insertable: new rows take the machine's initial status
  db.insertInto('ideas').values({ product_id: 'p', title: 't', status: 'PLANNED' });
  // @ts-expect-error the generated subject column cannot be written
  db.updateTable('claude_jobs').set({ subject_id: 'x' });
  // Reading and filtering stay open to everyone.
  db.selectFrom('tasks').select('status').where('status', '=', 'DONE');
}
