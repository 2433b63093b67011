import { type Kysely, sql } from 'kysely';

/**
 * The supersede probe of an enqueue, as a function that plans it with sorting disabled (issue 21).
 *
 * The probe asks, per kind and subject of a call, for the QUEUED jobs of that pair in creation
 * order. Three partial indexes share its leading column and predicate (kind, WHERE status =
 * 'QUEUED'): the queued index (kind, subject_id, created_at) and the two turns indexes. Without
 * statistics (a fresh fleet, or autovacuum not yet caught up with a backlog being enqueued) the
 * planner estimates one row under each of them, so the costs tie and the B-trees' heights decide:
 * a taller queued index lost to a turns index plus a sort, which filters every QUEUED job of the
 * kind per probe (11.6 s for one call of 1,000 at 45,000 queued, against 5 ms through the queued
 * index). No form of the query separates indexes whose quals and predicate match equally; what
 * does is that only the queued index gives the asked order without a sort. With sorting disabled
 * for this function's statements alone (the setting is restored when it returns), every plan
 * that sorts is priced out and the probe goes through the queued index whatever the statistics say.
 * OFFSET 0 keeps the probe per pair (as a join it became a hash join over every QUEUED job).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE FUNCTION jobfleet_queued_older(kinds text[], subjects uuid[], newest uuid[])
    RETURNS TABLE (older_id uuid, newest_id uuid)
    LANGUAGE sql STABLE
    SET enable_sort = off
    AS $$
      SELECT j.id, s.newest
      FROM unnest(kinds, subjects, newest) AS s(kind, subject_id, newest)
      CROSS JOIN LATERAL (
        SELECT q.id FROM claude_jobs q
        WHERE q.kind = s.kind AND q.subject_id = s.subject_id AND q.status = 'QUEUED' AND q.id <> s.newest
        ORDER BY q.created_at
        OFFSET 0
      ) AS j
    $$
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION jobfleet_queued_older(text[], uuid[], uuid[])`.execute(db);
}
