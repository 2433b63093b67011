/**
 * Finished jobs older than JOB_RETENTION_DAYS, deleted with everything that is theirs: history
 * rows, job-event idea logs, questions and usage records (the last two by ON DELETE CASCADE).
 *
 * Only a terminal job (DONE, FAILED, CANCELLED, SKIPPED) goes, once it finished (or, never
 * started, was created) more than JOB_RETENTION_DAYS ago: the delete judges that itself, on the
 * rows it locks, so a job that changed since it was read stays.
 *
 * The walk goes along claude_jobs_created_idx (created_at) from the last (created_at, id) it
 * judged, a batch per sweep, and only over jobs created a day before the cutoff: a job that ran
 * across the cutoff is then long finished when the walk reaches it. A job the walk reaches that
 * cannot go yet (still live, or finished later than a day after its creation) is put among the
 * held jobs (retention_held_jobs), which the sweeper looks at again a batch at a time, so the
 * walk never reads the old end of the table twice. A job may so go up to a day after it turned
 * JOB_RETENTION_DAYS old.
 *
 * A kept retry may name an original that went (retry_of_job_id has no foreign key, 0017), as a
 * step, a schedule or a chat message may name a job that went: the API answers 404 for that id.
 */
import { sql } from 'kysely';
import type { Db, Trx } from '../db/database.js';
import { claudeJobMachine } from '../machines/index.js';
import type { AgeOutReport } from './retention-policy.js';
import { FIRST_UUID, readCursor, writeCursor } from './retention-cursors.js';

/** How far behind the cutoff the walk stays: the jobs it reaches have had this long to finish. */
const WALK_LAG = sql`interval '1 day'`;

/**
 * A job-event log is written in the transaction that ended its job: close to its finished_at,
 * which is that transaction's now() or, on some paths, the clock of the process that ended it.
 * The window is wide against clock skew and narrow enough to read few rows of a busy idea.
 */
const LOG_MARGIN = sql`interval '1 hour'`;

const TERMINAL = claudeJobMachine.terminal;

type Counts = Pick<AgeOutReport, 'agedOutJobs' | 'agedOutHistory' | 'agedOutLogs'>;

/**
 * Deletes those of these jobs that are finished and old enough, with their history and job-event
 * logs. Each statement reaches its rows through an index, one probe per id (OFFSET 0 keeps the
 * probes apart), and deletes the rows found by their ctid: given a few thousand ids at once, the
 * planner otherwise estimated a large share of the table and read all of it (transitions and
 * idea_logs, with a batch of 5,000 jobs).
 */
async function deleteJobs(trx: Trx, ids: readonly string[], days: number, counts: Counts): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows: gone } = await sql<{ id: string; idea_id: string | null; from_at: string; to_at: string }>`
    DELETE FROM claude_jobs
    WHERE ctid = ANY(ARRAY(
        SELECT found.ctid FROM unnest(${ids}::uuid[]) AS u(id)
        CROSS JOIN LATERAL (SELECT j.ctid FROM claude_jobs AS j WHERE j.id = u.id OFFSET 0) AS found
      ))
      AND status IN (${sql.join(TERMINAL)}) AND coalesce(finished_at, created_at) < now() - ${days} * interval '1 day'
    RETURNING id, idea_id,
      greatest(created_at, coalesce(finished_at, created_at) - ${LOG_MARGIN})::text AS from_at,
      (coalesce(finished_at, created_at) + ${LOG_MARGIN})::text AS to_at
  `.execute(trx);
  if (gone.length === 0) return new Set();
  counts.agedOutJobs += gone.length;
  const history = await sql`
    DELETE FROM transitions WHERE ctid = ANY(ARRAY(
      SELECT found.ctid FROM unnest(${gone.map((job) => job.id)}::uuid[]) AS u(id)
      CROSS JOIN LATERAL (
        SELECT t.ctid FROM transitions AS t WHERE t.entity_type = 'CLAUDE_JOB' AND t.entity_id = u.id OFFSET 0
      ) AS found
    ))
  `.execute(trx);
  counts.agedOutHistory += Number(history.numAffectedRows ?? 0);
  const ideaJobs = gone.filter((job) => job.idea_id !== null);
  if (ideaJobs.length > 0) {
    // Through the log's primary key (idea_id, created_at): around the job's end in its idea's log.
    const logs = await sql`
      DELETE FROM idea_logs WHERE ctid = ANY(ARRAY(
        SELECT found.ctid
        FROM unnest(${ideaJobs.map((job) => job.idea_id)}::uuid[], ${ideaJobs.map((job) => job.id)}::uuid[],
          ${ideaJobs.map((job) => job.from_at)}::timestamptz[], ${ideaJobs.map((job) => job.to_at)}::timestamptz[])
          AS j(idea_id, job_id, from_at, to_at)
        CROSS JOIN LATERAL (
          SELECT l.ctid FROM idea_logs AS l
          WHERE l.idea_id = j.idea_id AND l.created_at >= j.from_at AND l.created_at <= j.to_at
            AND l.job_id = j.job_id AND l.type = 'JOB_EVENT'
          OFFSET 0
        ) AS found
      ))
    `.execute(trx);
    counts.agedOutLogs += Number(logs.numAffectedRows ?? 0);
  }
  return new Set(gone.map((job) => job.id));
}

/** One batch of the walk along claude_jobs' creation order. */
export async function ageOutFinishedJobs(db: Db, days: number, batch: number, counts: Counts): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const [at, id] = ((await readCursor(trx, 'claude_jobs')) ?? `-infinity|${FIRST_UUID}`).split('|') as [string, string];
    const { rows } = await sql<{ id: string; at: string; due: boolean }>`
      SELECT id, created_at::text AS at,
        status IN (${sql.join(TERMINAL)}) AND coalesce(finished_at, created_at) < now() - ${days} * interval '1 day' AS due
      FROM claude_jobs
      WHERE created_at < now() - ${days} * interval '1 day' - ${WALK_LAG}
        AND created_at >= ${at}::timestamptz AND (created_at, id) > (${at}::timestamptz, ${id}::uuid)
      ORDER BY created_at, id
      LIMIT ${batch}
    `.execute(trx);
    const last = rows.at(-1);
    if (!last) return;
    const gone = await deleteJobs(
      trx,
      rows.filter((row) => row.due).map((row) => row.id),
      days,
      counts,
    );
    // A job judged due that the delete did not take (it changed meanwhile) is held too, so the
    // walk passing it does not leave it behind for good.
    const held = rows.filter((row) => !gone.has(row.id)).map((row) => row.id);
    if (held.length > 0) {
      await sql`INSERT INTO retention_held_jobs (job_id) SELECT unnest(${held}::uuid[]) ON CONFLICT DO NOTHING`.execute(trx);
    }
    await writeCursor(trx, 'claude_jobs', `${last.at}|${last.id}`);
  });
}

/**
 * One batch of the held jobs, by job id from where the last batch stopped (from the start again
 * once the end is reached): those that may go now go, and those gone otherwise are let go of.
 */
export async function ageOutHeldJobs(db: Db, days: number, batch: number, counts: Counts): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const after = (await readCursor(trx, 'held_jobs')) ?? FIRST_UUID;
    const held = await trx
      .selectFrom('retention_held_jobs')
      .select('job_id')
      .where('job_id', '>', after)
      .orderBy('job_id')
      .limit(batch)
      .execute();
    const ids = held.map((row) => row.job_id);
    await deleteJobs(trx, ids, days, counts);
    if (ids.length > 0) {
      await sql`
        DELETE FROM retention_held_jobs AS h WHERE h.job_id = ANY(${ids}::uuid[])
          AND NOT EXISTS (SELECT 1 FROM claude_jobs AS j WHERE j.id = h.job_id)
      `.execute(trx);
    }
    const next = ids.length < batch ? FIRST_UUID : ids.at(-1)!;
    if (next !== after) await writeCursor(trx, 'held_jobs', next);
  });
}
