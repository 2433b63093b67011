/**
 * The sweeper's retention step: each walk deletes at most one batch per sweep, in a short
 * transaction of its own that touches only rows no worker or request writes (finished jobs, old
 * history, stopped workers, expired keys), so it never holds up enqueue, claim or finish. A walk
 * that fails is logged and tried again by the next sweep; the others still run.
 */
import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import { purgeExpiredKeys } from './expired-keys.js';
import { ageOutFinishedJobs, ageOutHeldJobs } from './finished-jobs.js';
import { ageOutJobHistory } from './job-history.js';
import { RETENTION_BATCH } from '../config.js';
import type { AgeOutReport, RetentionPolicy } from './retention-policy.js';
import { ageOutScheduleFirings } from './schedule-firings.js';
import { forgetStoppedWorkers } from './stopped-workers.js';

export interface AgeOutDeps {
  db: Db;
  logger: Logger;
  /** Absent: nothing ages out but expired idempotency keys (which are dead by definition). */
  retention?: RetentionPolicy | undefined;
}

export async function ageOut(deps: AgeOutDeps, report: AgeOutReport): Promise<void> {
  const { db, retention } = deps;
  const batch = retention?.batch ?? RETENTION_BATCH;
  const walk = async (name: string, step: () => Promise<void>) => {
    try {
      await step();
    } catch (error) {
      deps.logger.warn({ err: (error as Error).message, walk: name }, 'retention stopped; the next sweep tries again');
    }
  };
  const jobDays = retention?.jobDays ?? null;
  const historyDays = retention?.historyDays ?? null;
  if (jobDays !== null) {
    await walk('jobs', () => ageOutFinishedJobs(db, jobDays, batch, report));
    await walk('held jobs', () => ageOutHeldJobs(db, jobDays, batch, report));
    await walk('schedule firings', async () => {
      report.agedOutFirings += await ageOutScheduleFirings(db, jobDays, batch);
    });
    await walk('workers', async () => {
      report.forgottenWorkers += await forgetStoppedWorkers(db, jobDays, batch);
    });
  }
  if (historyDays !== null) {
    await walk('history', async () => {
      report.agedOutHistory += await ageOutJobHistory(db, historyDays, batch);
    });
  }
  await walk('idempotency keys', async () => {
    report.expiredKeys += await purgeExpiredKeys(db, batch);
  });
}
