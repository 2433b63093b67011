/**
 * Every HEARTBEAT_MS a worker tells the fleet it is alive: it writes its own workers row, the
 * lease every job it runs hangs from (src/jobs/worker-lease.ts), and only reads those jobs, by
 * primary key under their claim epoch and token, in the same round trip. A job no longer held
 * that way (cancelled, requeued, failed by the sweeper) has its agent aborted: cancel reaches
 * the agent within a beat even when its Redis signal was missed.
 *
 * A beat writes one row however many jobs it runs, and takes no lock on them: it neither waits
 * for the worker's own batches of claims and outcomes nor makes them wait.
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
      // The select's snapshot is taken before the update runs: a job it sees held was held at
      // the beat, and one that ends after it is caught by the next.
      const held = await sql<{ id: string }>`
        WITH alive AS (
          UPDATE workers SET heartbeat_at = now() WHERE id = ${identity.workerId}
        )
        SELECT t.id FROM claude_jobs AS t
        JOIN unnest(${leases.map((l) => l.jobId)}::uuid[], ${leases.map((l) => l.epoch)}::int[]) AS l(id, epoch)
          ON t.id = l.id AND t.claim_epoch = l.epoch
        WHERE t.claimed_by_token_id = ${identity.tokenId} AND t.status IN ('CLAIMED', 'RUNNING')
      `.execute(db);
      const kept = new Set(held.rows.map((row) => row.id));
      const lost = leases.filter((lease) => !kept.has(lease.jobId)).map((lease) => lease.jobId);
      // A job that finished between reading the leases and reading its row is not lost: abort
      // skips what no longer runs here.
      const aborted = running.abort(lost, 'lease_lost');
      if (aborted > 0) logger.info({ jobs: lost }, 'jobs no longer held by this worker; their agents were aborted');
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'heartbeat failed; the worker lease was not renewed');
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
