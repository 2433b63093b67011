/**
 * Jobs held on a worker's lease, as the lease and heartbeat tests set them up: grill jobs on new
 * ideas, inserted QUEUED and claimed in one claim as a worker process claims them, and the sweep
 * settings those tests judge leases by.
 */
import { expect } from 'vitest';
import type { Db } from '../../src/db/database.js';
import type { ClaudeJob } from '../../src/db/tables/claude-job.table.js';
import { type ClaimOptions, claimJobs, type WorkerIdentity } from '../../src/jobs/claim-jobs.js';
import { insertJobs } from '../../src/jobs/enqueue-jobs.js';
import type { Logger } from '../../src/logger.js';
import type { JobQueues } from '../../src/queues/job-queues.js';
import { createIdeas } from './subjects.js';

/** `count` grill jobs claimed and started by `by` (on its worker lease unless `options` say otherwise). */
export async function claimedGrillJobs(
  db: Db,
  productId: string,
  by: WorkerIdentity,
  count: number,
  options: ClaimOptions = { leaseMs: null, start: true },
): Promise<ClaudeJob[]> {
  const ideas = await createIdeas(db, productId, count, 'DRAFT');
  const jobs = await db.transaction().execute((trx) =>
    insertJobs(
      trx,
      ideas.map((idea) => ({ kind: 'IDEA_GRILL' as const, subjectId: idea })),
      { actorTokenId: null },
    ),
  );
  const ids = jobs.created.map((job) => job.id);
  const { claimed } = await db.transaction().execute((trx) => claimJobs(trx, ids, by, options));
  expect(claimed).toHaveLength(count);
  return claimed;
}

/** A sweep that judges leases of `leaseMs` and leaves stale claims and reconcile out of the way. */
export function leaseSweepDeps(deps: { db: Db; queues: JobQueues; logger: Logger }, leaseMs: number) {
  return { ...deps, leaseMs, staleClaimMs: 3_600_000, maxRetries: 2, reconcileGraceMs: 3_600_000 };
}
