/**
 * Backlog rows for tests, born through the door (createEntity) like the product's own rows,
 * and a walker that brings a row to any status of its machine through allowed edges only.
 */
import { sql } from 'kysely';
import type { Db, Trx } from '../../src/db/database.js';
import { type AnyMachine, type EntityType, MACHINES, type TransitionRule } from '../../src/machines/index.js';
import { createEntity, transition } from '../../src/transitions/index.js';

export async function inTrx<T>(db: Db, fn: (trx: Trx) => Promise<T>): Promise<T> {
  return db.transaction().execute(fn);
}

export async function product(trx: Trx, owner = 'owner-a') {
  return trx.insertInto('products').values({ owner_id: owner, name: 'Product' }).returningAll().executeTakeFirstOrThrow();
}

export async function pbi(trx: Trx, productId: string) {
  return (await createEntity(trx, MACHINES.PBI, { product_id: productId, title: 'PBI' })).row;
}

export async function sprint(trx: Trx, productId: string) {
  return (await createEntity(trx, MACHINES.SPRINT, { product_id: productId, name: 'Sprint' })).row;
}

export async function story(trx: Trx, pbiId: string, sprintId: string | null = null) {
  return (await createEntity(trx, MACHINES.STORY, { pbi_id: pbiId, title: 'Story', sprint_id: sprintId })).row;
}

export async function task(trx: Trx, storyId: string, sprintId: string | null = null) {
  return (
    await createEntity(trx, MACHINES.TASK, {
      story_id: storyId,
      sprint_id: sprintId,
      title: 'Task',
      implementation_plan: 'Do the thing.',
    })
  ).row;
}

export async function idea(trx: Trx, productId: string) {
  return (await createEntity(trx, MACHINES.IDEA, { product_id: productId, title: 'Idea', prompt_text: 'An idea.' })).row;
}

export async function sprintRun(trx: Trx, sprintId: string) {
  return (await createEntity(trx, MACHINES.SPRINT_RUN, { sprint_id: sprintId, mode: 'PER_TASK' })).row;
}

export async function step(trx: Trx, runId: string, position = 0) {
  return (await createEntity(trx, MACHINES.STEP, { sprint_run_id: runId, position, name: `step ${position}` })).row;
}

export async function planChatJob(trx: Trx, ideaId: string) {
  const { product_id, owner_id } = await trx
    .selectFrom('ideas')
    .innerJoin('products', 'products.id', 'ideas.product_id')
    .select(['ideas.product_id', 'products.owner_id'])
    .where('ideas.id', '=', ideaId)
    .executeTakeFirstOrThrow();
  return (await createEntity(trx, MACHINES.CLAUDE_JOB, { kind: 'PLAN_CHAT', idea_id: ideaId, product_id, owner_id, payload: '{}' })).row;
}

/** A new row of the entity in its initial status, with whatever parents it needs. */
export async function freshRow(trx: Trx, entity: EntityType): Promise<{ id: string }> {
  const p = await product(trx);
  switch (entity) {
    case 'PBI':
      return pbi(trx, p.id);
    case 'STORY':
      return story(trx, (await pbi(trx, p.id)).id);
    case 'TASK':
      return task(trx, (await story(trx, (await pbi(trx, p.id)).id)).id);
    case 'SPRINT':
      return sprint(trx, p.id);
    case 'SPRINT_RUN':
      return sprintRun(trx, (await sprint(trx, p.id)).id);
    case 'STEP':
      return step(trx, (await sprintRun(trx, (await sprint(trx, p.id)).id)).id);
    case 'IDEA':
      return idea(trx, p.id);
    case 'CLAUDE_JOB':
      return planChatJob(trx, (await idea(trx, p.id)).id);
    case 'PROVIDER':
      return (await createEntity(trx, MACHINES.PROVIDER, { name: `provider-${p.id}` })).row;
  }
}

/** The shortest list of rules leading from the machine's initial status to `target`. */
export function pathTo(machine: AnyMachine, target: string): TransitionRule<string>[] {
  const rules = machine.transitions as readonly TransitionRule<string>[];
  const previous = new Map<string, TransitionRule<string> | null>([[machine.initial, null]]);
  const queue: string[] = [machine.initial];
  while (queue.length) {
    const status = queue.shift()!;
    if (status === target) break;
    for (const rule of rules.filter((r) => r.from === status)) {
      if (!previous.has(rule.to)) {
        previous.set(rule.to, rule);
        queue.push(rule.to);
      }
    }
  }
  if (!previous.has(target)) throw new Error(`${machine.entity}: ${target} is unreachable`);
  const path: TransitionRule<string>[] = [];
  for (let rule = previous.get(target); rule; rule = previous.get(rule.from)) path.unshift(rule);
  return path;
}

/** A new row of the entity, walked through allowed edges to `status`. */
export async function rowIn(trx: Trx, entity: EntityType, status: string): Promise<{ id: string }> {
  const machine = MACHINES[entity] as AnyMachine;
  const row = await freshRow(trx, entity);
  for (const rule of pathTo(machine, status)) {
    await transition(trx, machine, { id: row.id, from: rule.from, to: rule.to, trigger: rule.trigger } as never);
  }
  return row;
}

export async function statusOf(db: Db | Trx, entity: EntityType, id: string): Promise<string> {
  const table = MACHINES[entity].table;
  const row = await (db as Db)
    .selectFrom(table as 'tasks')
    .select('status')
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  return row.status;
}

export async function historyCount(db: Db | Trx, entity: EntityType, id: string): Promise<number> {
  const { count } = await (db as Db)
    .selectFrom('transitions')
    .select(({ fn }) => fn.countAll<string>().as('count'))
    .where('entity_type', '=', entity)
    .where('entity_id', '=', id)
    .executeTakeFirstOrThrow();
  return Number(count);
}

/** Every table a request could write to. */
export const TABLES = [
  'products',
  'pbis',
  'stories',
  'tasks',
  'task_dependencies',
  'sprints',
  'sprint_runs',
  'steps',
  'ideas',
  'idea_logs',
  'claude_jobs',
  'transitions',
  'api_tokens',
  'idempotency_keys',
] as const;

/** The row count of every table, in one query: for "a refused request wrote nothing". */
export async function rowCounts(db: Db): Promise<Record<string, number>> {
  const selects = TABLES.map((table) => `(SELECT count(*) FROM ${table})::int AS ${table}`).join(', ');
  const { rows } = await sql<Record<string, number>>`SELECT ${sql.raw(selects)}`.execute(db);
  return rows[0]!;
}
