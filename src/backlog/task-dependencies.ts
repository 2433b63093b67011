/**
 * "Task A depends on task B": A may start only once B is done (sprint runs order their steps by
 * it). Both tasks belong to one product, and no dependency may close a cycle: adding one that
 * would is refused with 422 naming the cycle.
 */
import { sql } from 'kysely';
import type { Executor, Trx } from '../db/database.js';
import { AppError } from '../errors/app-error.js';
import { topologicalOrder } from './topological-order.js';
import { visibleOwnership } from './ownership.js';

export async function addDependency(trx: Trx, taskId: string, dependsOnId: string, ownerId: string | null): Promise<'added' | 'existed'> {
  const task = await visibleOwnership(trx, 'TASK', taskId, ownerId);
  const dependency = await visibleOwnership(trx, 'TASK', dependsOnId, ownerId);
  const issue = (message: string) =>
    new AppError('validation_failed', `invalid dependency: ${message}`, { issues: [{ path: 'depends_on_task_id', message }] });
  if (taskId === dependsOnId) throw issue('a task cannot depend on itself');
  if (task.productId !== dependency.productId) throw issue('the tasks belong to different products');

  // One writer of a product's dependency graph at a time, so two additions cannot close a cycle together.
  await sql`SELECT pg_advisory_xact_lock(hashtext(${`task_dependencies:${task.productId}`}))`.execute(trx);
  const edges = await productEdges(trx, task.productId);
  if (edges.some(([from, to]) => from === taskId && to === dependsOnId)) return 'existed';

  const nodes = [...new Set([...edges.flat(), taskId, dependsOnId])];
  const order = topologicalOrder(nodes, [...edges, [taskId, dependsOnId]]);
  if (!order.ok) {
    // Told from the task the user is changing: "a -> c -> b -> a" reads as "a would wait for c...".
    const cycle = startingAt(order.cycle, taskId);
    throw new AppError('validation_failed', `invalid dependency: it would close the cycle ${cycle.join(' -> ')}`, {
      cycle,
      issues: [{ path: 'depends_on_task_id', message: `closes the cycle ${cycle.join(' -> ')}` }],
    });
  }
  await trx.insertInto('task_dependencies').values({ task_id: taskId, depends_on_task_id: dependsOnId }).execute();
  return 'added';
}

export async function removeDependency(trx: Trx, taskId: string, dependsOnId: string, ownerId: string | null): Promise<boolean> {
  await visibleOwnership(trx, 'TASK', taskId, ownerId);
  const result = await trx
    .deleteFrom('task_dependencies')
    .where('task_id', '=', taskId)
    .where('depends_on_task_id', '=', dependsOnId)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** A closed path [x, ..., x] rotated to start (and end) at `node`, when it passes through it. */
function startingAt<K>(cycle: readonly K[], node: K): K[] {
  const open = cycle.slice(0, -1);
  const at = open.indexOf(node);
  if (at <= 0) return [...cycle];
  const rotated = [...open.slice(at), ...open.slice(0, at)];
  return [...rotated, rotated[0]!];
}

/** Every dependency between tasks of a product, as [task, task it depends on]. */
export async function productEdges(db: Executor, productId: string): Promise<[string, string][]> {
  const rows = await db
    .selectFrom('task_dependencies as d')
    .innerJoin('tasks as t', 't.id', 'd.task_id')
    .innerJoin('stories as s', 's.id', 't.story_id')
    .innerJoin('pbis as b', 'b.id', 's.pbi_id')
    .select(['d.task_id', 'd.depends_on_task_id'])
    .where('b.product_id', '=', productId)
    .execute();
  return rows.map((row) => [row.task_id, row.depends_on_task_id]);
}
