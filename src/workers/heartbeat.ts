/**
 * Every HEARTBEAT_MS a worker tells the fleet it is alive and extends the lease of every job it
 * runs, in one round trip. A job whose lease could not be extended is no longer this worker's
 * (cancelled, or failed by the sweeper): its agent is aborted.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import type { RunningJobs } from './running-jobs.js';
import type { WorkerIdentity } from './worker-registry.js';

export interface HeartbeatOptions {
  db: Db;
  identity: WorkerIdentity;
  running: RunningJobs;
  intervalMs: number;
  leaseMs: number;
  logger: Logger;
}

export interface Heartbeat {
  /** Beats once now (also used at start and by tests). */
  beat(): Promise<void>;
  stop(): Promise<void>;
}

export function startHeartbeat(options: HeartbeatOptions): Heartbeat {
  const { db, identity, running, logger } = options;
  let current: Promise<void> = Promise.resolve();

  const beat = async () => {
    const leases = running.leases();
    try {
      // The rows are locked in id order, as every batch of claims and outcomes locks them
      // (src/transitions/transition.ts): in the order of the join's plan (the list's, or the
      // table's), a beat and the worker's own batch of outcomes deadlocked, and Postgres ended
      // one of them after its deadlock timeout, a second in which no lease was renewed.
      const renewed = await sql<{ id: string }>`
        WITH alive AS (
          UPDATE workers SET heartbeat_at = now() WHERE id = ${identity.workerId}
        ),
        held AS (
          SELECT t.id FROM claude_jobs AS t
          JOIN unnest(${leases.map((l) => l.jobId)}::uuid[], ${leases.map((l) => l.epoch)}::int[]) AS l(id, epoch)
            ON t.id = l.id AND t.claim_epoch = l.epoch
          WHERE t.claimed_by_token_id = ${identity.tokenId} AND t.status IN ('CLAIMED', 'RUNNING')
          ORDER BY t.id
          FOR UPDATE OF t
        )
        UPDATE claude_jobs AS t SET lease_expires_at = now() + ${options.leaseMs} * interval '1 millisecond'
        FROM held
        WHERE t.id = held.id
        RETURNING t.id
      `.execute(db);
      const kept = new Set(renewed.rows.map((row) => row.id));
      const lost = leases.filter((lease) => !kept.has(lease.jobId)).map((lease) => lease.jobId);
      // A job that finished between reading the leases and renewing them is not lost: abort
      // skips what no longer runs here.
      const aborted = running.abort(lost, 'lease_lost');
      if (aborted > 0) logger.info({ jobs: lost }, 'jobs no longer held by this worker; their agents were aborted');
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'heartbeat failed; leases were not renewed');
    }
  };

  const timer = setInterval(() => {
    current = current.then(beat);
  }, options.intervalMs);
  timer.unref();

  return {
    beat: () => (current = current.then(beat)),
    async stop() {
      clearInterval(timer);
      await current;
    },
  };
}
