/**
 * How many of an owner's jobs hold a slot (CLAIMED or RUNNING), seen two ways: sampled from the
 * rows while the fleet works, and replayed afterwards from the history. The replay follows the
 * history's ids, not its timestamps: a claim's rows get their ids after its count of the owner's
 * held jobs, under the owner's lock, so a job whose end has a smaller id had ended before that
 * count; timestamps are each transaction's start and can put a claim before an end it waited for.
 */
import { sql } from 'kysely';
import type { Db } from '../../src/db/database.js';

const HELD = ['CLAIMED', 'RUNNING'];

/** The owner's jobs holding a slot now, all kinds. */
export async function heldCount(db: Db, ownerId: string): Promise<number> {
  const { rows } = await sql<{ count: number }>`
    SELECT count(*)::int AS count FROM claude_jobs WHERE owner_id = ${ownerId} AND status IN ('CLAIMED', 'RUNNING')
  `.execute(db);
  return rows[0]!.count;
}

export interface HeldSampler {
  /** Stops sampling; answers the most held at once and how many samples were taken. */
  stop(): Promise<{ max: number; samples: number }>;
}

/**
 * Counts the owner's held jobs over and over, as fast as Postgres answers, until stopped (stop it
 * before the database goes: a failing count ends the sampling, and `stop` throws it).
 */
export function sampleHeld(db: Db, ownerId: string): HeldSampler {
  let running = true;
  let max = 0;
  let samples = 0;
  const loop = (async () => {
    while (running) {
      max = Math.max(max, await heldCount(db, ownerId));
      samples += 1;
    }
  })();
  // Seen by `stop`; until then a failure must not surface as an unhandled rejection.
  loop.catch(() => undefined);
  return {
    async stop() {
      running = false;
      await loop;
      return { max, samples };
    },
  };
}

/** The most of the owner's jobs that held a slot at once, replayed from every job's history. */
export async function mostHeldInHistory(db: Db, ownerId: string): Promise<number> {
  const { rows } = await sql<{ from_status: string | null; to_status: string }>`
    SELECT t.from_status, t.to_status
    FROM transitions t JOIN claude_jobs j ON j.id = t.entity_id
    WHERE t.entity_type = 'CLAUDE_JOB' AND j.owner_id = ${ownerId}
    ORDER BY t.id
  `.execute(db);
  let held = 0;
  let most = 0;
  for (const row of rows) {
    const before = row.from_status !== null && HELD.includes(row.from_status);
    const after = HELD.includes(row.to_status);
    if (!before && after) held += 1;
    if (before && !after) held -= 1;
    most = Math.max(most, held);
  }
  return most;
}

/** Each job's history as `from>to` steps (`*` for its creation), oldest first. */
export async function historySteps(db: Db, ids: readonly string[]): Promise<Map<string, string[]>> {
  const steps = new Map<string, string[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return steps;
  const rows = await db
    .selectFrom('transitions')
    .select(['entity_id', 'from_status', 'to_status'])
    .where('entity_type', '=', 'CLAUDE_JOB')
    .where('entity_id', 'in', [...ids])
    .orderBy('id')
    .execute();
  for (const row of rows) steps.get(row.entity_id)!.push(`${row.from_status ?? '*'}>${row.to_status}`);
  return steps;
}
