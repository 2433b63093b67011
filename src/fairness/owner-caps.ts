/**
 * Owners' caps (SPEC "Fair shares and schedules"): at most OWNER_MAX_RUNNING jobs of one owner
 * hold a claim (CLAIMED or RUNNING) at once, across every worker and kind; an admin's row in
 * owner_caps overrides the default for one owner (null: no cap for them).
 *
 * Exact under concurrency: every claim that judges caps takes a transaction-scoped advisory lock
 * per owner (in one global order), then counts the owner's held jobs in a statement of its own,
 * whose snapshot sees every claim committed before the lock was granted. Two workers racing for
 * an owner's last slot queue on the lock, and the second counts the first's claim. A slot frees
 * when the job leaves CLAIMED/RUNNING by any path, since the count is read from the jobs
 * themselves: nothing to release, nothing to leak.
 */
import { sql } from 'kysely';
import type { Executor, Trx } from '../db/database.js';
import { JOB_KINDS } from '../job-kinds.js';

/** How an owner's cap was decided: their own row, OWNER_MAX_RUNNING, or neither. */
export type CapSource = 'owner' | 'default' | 'none';

export interface OwnerLoad {
  ownerId: string;
  /** null: no cap. */
  maxRunning: number | null;
  source: CapSource;
  /** Jobs holding a claim (CLAIMED or RUNNING) now. */
  running: number;
  queued: number;
}

/** Why a claim left a job QUEUED: its owner's slots were all taken. */
export interface CapRefusal {
  ownerId: string;
  maxRunning: number;
  running: number;
}

export interface Admission {
  /** QUEUED jobs within their owners' caps, in the order asked: claim these. */
  admitted: string[];
  /** QUEUED jobs whose owner is at the cap. */
  capped: Map<string, CapRefusal>;
  /** Ids this transaction cannot see (a delivery ahead of its enqueue's commit). */
  unseen: string[];
}

/** Advisory lock class of owners' slots (any constant no other lock in jobfleet uses). */
const SLOT_LOCK_CLASS = 0x6a66_0019;

const capOf = (own: { max_running: number | null } | undefined, defaultMax: number | null) =>
  own
    ? { maxRunning: own.max_running, source: 'owner' as const }
    : { maxRunning: defaultMax, source: defaultMax === null ? ('none' as const) : ('default' as const) };

/**
 * Which of these deliveries' jobs may be claimed now, within the claim's transaction (whose
 * locks it takes and keeps until commit). Ids seen in another status are in no list: the claim
 * that follows drops them as second deliveries.
 */
export async function admitWithinCaps(trx: Trx, ids: readonly string[], defaultMax: number | null): Promise<Admission> {
  const unique = [...new Set(ids)];
  const rows = await trx.selectFrom('claude_jobs').select(['id', 'owner_id', 'status']).where('id', 'in', unique).execute();
  const byId = new Map(rows.map((row) => [row.id, row]));
  const queued = rows.filter((row) => row.status === 'QUEUED');
  const owners = [...new Set(queued.map((row) => row.owner_id))].sort();
  const admission: Admission = { admitted: [], capped: new Map(), unseen: unique.filter((id) => !byId.has(id)) };
  if (owners.length === 0) return admission;

  // In one global order (of the lock keys themselves, which two owners may share), so that two
  // claims locking overlapping owners cannot deadlock.
  await sql`
    SELECT count(pg_advisory_xact_lock(${SLOT_LOCK_CLASS}, o.key))
    FROM (SELECT DISTINCT hashtext(owner_id) AS key FROM unnest(${owners}::text[]) AS u(owner_id) ORDER BY key) AS o
  `.execute(trx);
  const slots = new Map((await ownerSlots(trx, owners, defaultMax)).map((load) => [load.ownerId, load]));

  for (const id of unique) {
    const row = byId.get(id);
    if (row?.status !== 'QUEUED') continue;
    const load = slots.get(row.owner_id)!;
    if (load.maxRunning === null || load.running < load.maxRunning) {
      load.running += 1;
      admission.admitted.push(id);
    } else {
      admission.capped.set(id, { ownerId: row.owner_id, maxRunning: load.maxRunning, running: load.running });
    }
  }
  return admission;
}

/**
 * The owners' caps and held jobs, without counting their queued ones (0 here): what a claim or a
 * wake needs, at the cost of the owners' running jobs only, however long their backlogs are.
 */
export async function ownerSlots(db: Executor, owners: readonly string[], defaultMax: number | null): Promise<OwnerLoad[]> {
  const { rows } = await sql<{ owner_id: string; has_own: string | null; max_running: number | null; running: string }>`
    SELECT o.owner_id, c.owner_id AS has_own, c.max_running,
      (SELECT count(*) FROM claude_jobs j WHERE j.owner_id = o.owner_id AND j.status IN ('CLAIMED', 'RUNNING')) AS running
    FROM unnest(${owners}::text[]) AS o(owner_id)
    LEFT JOIN owner_caps c ON c.owner_id = o.owner_id
  `.execute(db);
  return rows.map((row) => ({
    ownerId: row.owner_id,
    ...capOf(row.has_own === null ? undefined : row, defaultMax),
    running: Number(row.running),
    queued: 0,
  }));
}

/**
 * Owners' caps with their running and queued jobs: of these owners, or (null) of every owner
 * with a job queued or running or a cap of their own. Held and queued jobs are counted apart, each
 * with a predicate of the partial indexes (owner_held, the queued ones): what this costs grows with
 * the live jobs, not with the finished ones the table keeps (it is read at every wake).
 */
export async function ownerLoads(db: Executor, ownerIds: readonly string[] | null, defaultMax: number | null): Promise<OwnerLoad[]> {
  const only = ownerIds === null ? sql`` : sql`AND owner_id = ANY(${[...ownerIds]}::text[])`;
  // Every kind named, so that some owners' queued jobs are counted through the queued turns
  // index (kind, owner_id, turn) within those owners' ranges: without a kind the scan reads every
  // QUEUED job's entry to find one owner's (80 ms against 18 ms at 1,000,000 queued over 20 owners).
  const kinds = ownerIds === null ? sql`` : sql`AND kind = ANY(${[...JOB_KINDS]}::text[])`;
  const { rows } = await sql<{ owner_id: string; has_own: string | null; max_running: number | null; running: string; queued: string }>`
    WITH held AS (
      SELECT owner_id, count(*) AS running FROM claude_jobs WHERE status IN ('CLAIMED', 'RUNNING') ${only} GROUP BY owner_id
    ), waiting AS (
      SELECT owner_id, count(*) AS queued FROM claude_jobs WHERE status = 'QUEUED' ${kinds} ${only} GROUP BY owner_id
    ), owners AS (
      ${
        ownerIds === null
          ? sql`SELECT owner_id FROM held UNION SELECT owner_id FROM waiting UNION SELECT owner_id FROM owner_caps`
          : sql`SELECT owner_id FROM unnest(${[...ownerIds]}::text[]) AS u(owner_id)`
      }
    )
    SELECT o.owner_id, c.owner_id AS has_own, c.max_running, coalesce(h.running, 0) AS running, coalesce(w.queued, 0) AS queued
    FROM owners o
    LEFT JOIN owner_caps c ON c.owner_id = o.owner_id
    LEFT JOIN held h ON h.owner_id = o.owner_id
    LEFT JOIN waiting w ON w.owner_id = o.owner_id
    ORDER BY o.owner_id
  `.execute(db);
  return rows.map((row) => ({
    ownerId: row.owner_id,
    ...capOf(row.has_own === null ? undefined : row, defaultMax),
    running: Number(row.running),
    queued: Number(row.queued),
  }));
}

/** Sets (a number or null: no cap) or, with undefined, removes an owner's own cap. */
export async function setOwnerCap(db: Executor, ownerId: string, maxRunning: number | null | undefined, actorTokenId: string | null) {
  if (maxRunning === undefined) {
    await db.deleteFrom('owner_caps').where('owner_id', '=', ownerId).execute();
    return;
  }
  await db
    .insertInto('owner_caps')
    .values({ owner_id: ownerId, max_running: maxRunning, updated_by_token_id: actorTokenId })
    .onConflict((oc) =>
      oc.column('owner_id').doUpdateSet({ max_running: maxRunning, updated_by_token_id: actorTokenId, updated_at: sql`now()` }),
    )
    .execute();
}

/** Whether any owner has a cap row: without one and without OWNER_MAX_RUNNING, claims judge no caps. */
export async function anyOwnerCap(db: Executor): Promise<boolean> {
  const row = await db.selectFrom('owner_caps').select(sql<number>`1`.as('one')).limit(1).executeTakeFirst();
  return row !== undefined;
}
