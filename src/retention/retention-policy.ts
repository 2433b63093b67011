/**
 * How long job traffic is kept, and how much of it one sweep may delete (README "Retention").
 * Only job traffic ages out: finished jobs with what hangs from them (history, job-event logs,
 * questions, usage records), schedule firings, expired idempotency keys and workers stopped long
 * ago. A product's backlog (products, PBIs, stories, tasks, sprints, sprint runs, steps, ideas)
 * and its history, and an idea's own log (results, chat), are kept for ever.
 */

import type { Config } from '../config.js';

export { MIN_RETENTION_DAYS, RETENTION_BATCH } from '../config.js';

export interface RetentionPolicy {
  /** HISTORY_RETENTION_DAYS: a job's history rows older than this go, even while the job is kept; null: for ever. */
  historyDays: number | null;
  /** JOB_RETENTION_DAYS: a finished job older than this goes with its history and job-event logs; null: for ever. */
  jobDays: number | null;
  /**
   * RETENTION_BATCH: the most rows each walk reads, and so deletes, in one sweep, in one short
   * transaction of its own; a longer backlog of old rows drains over the sweeps that follow.
   * @defaultValue RETENTION_BATCH
   */
  batch?: number;
}

export function retentionPolicyOf(
  config: Pick<Config, 'HISTORY_RETENTION_DAYS' | 'JOB_RETENTION_DAYS' | 'RETENTION_BATCH'>,
): RetentionPolicy {
  return { historyDays: config.HISTORY_RETENTION_DAYS, jobDays: config.JOB_RETENTION_DAYS, batch: config.RETENTION_BATCH };
}

/** What one sweep aged out (the sweep's report carries these counts). */
export interface AgeOutReport {
  /** Finished jobs deleted, with their questions and usage records. */
  agedOutJobs: number;
  /** Job history rows deleted: older than HISTORY_RETENTION_DAYS, or with their job. */
  agedOutHistory: number;
  /** Job-event idea logs deleted with their job. */
  agedOutLogs: number;
  /** Schedule firings older than JOB_RETENTION_DAYS deleted. */
  agedOutFirings: number;
  /** Idempotency keys past their expiry deleted. */
  expiredKeys: number;
  /** Workers stopped more than JOB_RETENTION_DAYS ago, holding no job, deleted. */
  forgottenWorkers: number;
}

export function emptyAgeOutReport(): AgeOutReport {
  return { agedOutJobs: 0, agedOutHistory: 0, agedOutLogs: 0, agedOutFirings: 0, expiredKeys: 0, forgottenWorkers: 0 };
}
