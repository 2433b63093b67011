/**
 * Which product (and so which owner) a row belongs to. Products belong to an owner; everything
 * else belongs to a product through its parents. A token sees only its owner's products and what
 * hangs under them (admins see all); the API answers 404 for the rest, so it never leaks that a
 * row exists.
 */
import { sql } from 'kysely';
import type { Executor } from '../db/database.js';
import { AppError } from '../errors/app-error.js';
import type { EntityType } from '../machines/index.js';
import { isUuidShape } from '../util/uuid.js';

/** Every entity but providers, which belong to the fleet rather than to an owner. */
export type OwnedEntity = Exclude<EntityType, 'PROVIDER'> | 'PRODUCT';

export interface Ownership {
  productId: string;
  ownerId: string;
}

/** FROM ... JOIN ... chains from each entity's table to products, aliased `x` and `p`. */
const CHAINS: Record<OwnedEntity, string> = {
  PRODUCT: 'products x JOIN products p ON p.id = x.id',
  PBI: 'pbis x JOIN products p ON p.id = x.product_id',
  STORY: 'stories x JOIN pbis b ON b.id = x.pbi_id JOIN products p ON p.id = b.product_id',
  TASK: 'tasks x JOIN stories s ON s.id = x.story_id JOIN pbis b ON b.id = s.pbi_id JOIN products p ON p.id = b.product_id',
  SPRINT: 'sprints x JOIN products p ON p.id = x.product_id',
  SPRINT_RUN: 'sprint_runs x JOIN sprints s ON s.id = x.sprint_id JOIN products p ON p.id = s.product_id',
  STEP: 'steps x JOIN sprint_runs r ON r.id = x.sprint_run_id JOIN sprints s ON s.id = r.sprint_id JOIN products p ON p.id = s.product_id',
  IDEA: 'ideas x JOIN products p ON p.id = x.product_id',
  CLAUDE_JOB: 'claude_jobs x JOIN products p ON p.id = x.product_id',
};

const NOUNS: Record<OwnedEntity, string> = {
  PRODUCT: 'product',
  PBI: 'PBI',
  STORY: 'story',
  TASK: 'task',
  SPRINT: 'sprint',
  SPRINT_RUN: 'sprint run',
  STEP: 'step',
  IDEA: 'idea',
  CLAUDE_JOB: 'job',
};

export function nounOf(entity: OwnedEntity): string {
  return NOUNS[entity];
}

/** The FROM clause joining the entity's table (as `x`) to its product (as `p`). */
export function ownershipChain(entity: OwnedEntity): string {
  return CHAINS[entity];
}

/** The ownership of each id that exists (ids that do not are absent from the map). */
export async function ownershipOf(db: Executor, entity: OwnedEntity, ids: readonly string[]): Promise<Map<string, Ownership>> {
  if (ids.length === 0) return new Map();
  const { rows } = await sql<{ id: string; product_id: string; owner_id: string }>`
    SELECT x.id, p.id AS product_id, p.owner_id FROM ${sql.raw(CHAINS[entity])} WHERE x.id = ANY(${[...ids]}::uuid[])
  `.execute(db);
  return new Map(rows.map((row) => [row.id, { productId: row.product_id, ownerId: row.owner_id }]));
}

/**
 * The ownership of a row the caller may see, or not_found: for a row that does not exist, a
 * malformed id, and another owner's row alike. `ownerId` null means any owner (admin, system).
 */
export async function visibleOwnership(db: Executor, entity: OwnedEntity, id: string, ownerId: string | null): Promise<Ownership> {
  const found = isUuidShape(id) ? (await ownershipOf(db, entity, [id])).get(id) : undefined;
  if (!found || (ownerId !== null && found.ownerId !== ownerId)) {
    throw new AppError('not_found', `${NOUNS[entity]} ${id} does not exist`, { id });
  }
  return found;
}
