/**
 * A worker's lease: the jobs a worker process holds hang from it. The worker's heartbeat writes
 * its workers row (heartbeat_at) and nothing else, so holding N agents costs a beat per worker,
 * not per job; a job held this way keeps `lease_expires_at` NULL. The lease lapses LEASE_MS after
 * the last beat, or at once when the worker stopped; a job's own claim counts as a beat for that
 * job (a claim is a sign of life, and a claim gave a job a lease of LEASE_MS before worker leases,
 * so a job claimed between beats is not lost with a beat missed or a sweep racing its claim). A
 * job with a lease of its own (pull mode:
 * one session holds one job and renews it with job_heartbeat) keeps `lease_expires_at`, and that
 * lease is judged instead.
 */
import { type RawBuilder, sql } from 'kysely';
import type { Executor } from '../db/database.js';

/** How a worker's lease is judged: LEASE_MS, how long a worker may go without a beat. */
export interface WorkerLeaseTiming {
  leaseMs: number;
}

/**
 * Whether the claude_jobs row in scope still holds a live lease: its own when it has one, else
 * its worker's. For a job token's check (src/jobs/job-holder.ts), one row at a time.
 */
export function leaseIsLive({ leaseMs }: WorkerLeaseTiming): RawBuilder<boolean> {
  return sql<boolean>`CASE WHEN claude_jobs.lease_expires_at IS NOT NULL THEN claude_jobs.lease_expires_at > now()
    ELSE EXISTS (
      SELECT 1 FROM workers AS w
      WHERE w.id = claude_jobs.claimed_by_worker_id AND w.stopped_at IS NULL
        AND (w.heartbeat_at > now() - ${leaseMs} * interval '1 millisecond'
          OR claude_jobs.claimed_at > now() - ${leaseMs} * interval '1 millisecond')
    ) END`;
}

/**
 * The workers whose lease lapsed while they still hold jobs on it. The holders are read by a
 * skip scan of claude_jobs_worker_held_idx (one probe per holder, not one per held job), each
 * judged by its workers row: stopped, not beaten within LEASE_MS, or never registered.
 */
export async function lapsedHolders(db: Executor, { leaseMs }: WorkerLeaseTiming): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    WITH RECURSIVE holders (id) AS (
      (SELECT claimed_by_worker_id FROM claude_jobs
        WHERE status IN ('CLAIMED', 'RUNNING') AND lease_expires_at IS NULL AND claimed_by_worker_id IS NOT NULL
        ORDER BY claimed_by_worker_id LIMIT 1)
      UNION ALL
      SELECT (SELECT j.claimed_by_worker_id FROM claude_jobs AS j
          WHERE j.status IN ('CLAIMED', 'RUNNING') AND j.lease_expires_at IS NULL AND j.claimed_by_worker_id > h.id
          ORDER BY j.claimed_by_worker_id LIMIT 1)
        FROM holders AS h WHERE h.id IS NOT NULL
    )
    SELECT h.id FROM holders AS h LEFT JOIN workers AS w ON w.id = h.id
    WHERE h.id IS NOT NULL
      AND (w.id IS NULL OR w.stopped_at IS NOT NULL OR w.heartbeat_at <= now() - ${leaseMs} * interval '1 millisecond')
  `.execute(db);
  return rows.map((row) => row.id);
}
