/**
 * Which running job a caller of the agent channel may act on (SPEC "Agents talk back"):
 * - a job token: its own job, while that job holds the claim the token names (RUNNING, same
 *   claim epoch, lease not lapsed: its own, or its worker's, src/jobs/worker-lease.ts); anything
 *   else is job_token_expired (401);
 * - a worker or admin token in pull mode: a job it claimed itself (wait_for_job), still RUNNING,
 *   under the claim epoch it names when it names one: another token's job is 403, a stale epoch
 *   or a job no longer running 409, exactly as for a worker's writes (src/jobs/job-lease.ts).
 */
import type { Principal } from '../auth/principal.js';
import type { Executor } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { AppError } from '../errors/app-error.js';
import { claudeJobStatus } from '../spelling/api-spelling.js';
import { explainLeaseRefusal } from './job-lease.js';
import { leaseIsLive } from './worker-lease.js';

export interface HoldRequest {
  /** The job the caller names; a job token may leave it out. */
  jobId?: string | undefined;
  /** The claim the caller believes it holds (pull mode); left out, the current claim. */
  epoch?: number | undefined;
  /**
   * Lock the job's row (inside the caller's transaction) until it commits: a write made under the
   * lock cannot land after the job ended, as the end's update waits for it or goes first and is seen.
   */
  lock?: boolean | undefined;
  /** LEASE_MS: a job token of a worker's job expires when that worker's lease lapses. */
  leaseMs: number;
}

/** The job row, or the refusal the caller gets. */
export async function heldJob(db: Executor, principal: Principal, request: HoldRequest): Promise<ClaudeJob> {
  if (principal.job) return jobOfToken(db, principal.job, request);
  if (!request.jobId) throw new AppError('validation_failed', 'job_id is required: name a job this token claimed with wait_for_job');
  const job = await db
    .selectFrom('claude_jobs')
    .selectAll()
    .where('id', '=', request.jobId)
    .$if(request.lock === true, (query) => query.forNoKeyUpdate())
    .executeTakeFirst();
  if (!job) throw new AppError('not_found', `job ${request.jobId} does not exist`, { id: request.jobId });
  const lease = { jobId: job.id, epoch: request.epoch ?? job.claim_epoch, tokenId: principal.tokenId };
  if (job.status !== 'RUNNING' || job.claim_epoch !== lease.epoch || job.claimed_by_token_id !== principal.tokenId) {
    throw await explainLeaseRefusal(db, lease, 'RUNNING');
  }
  return job;
}

async function jobOfToken(db: Executor, claim: { id: string; epoch: number }, request: HoldRequest): Promise<ClaudeJob> {
  const named = request.jobId;
  if (named !== undefined && named !== claim.id) {
    throw new AppError('forbidden', `this job token acts only on its own job ${claim.id}, not on job ${named}`, { id: named });
  }
  const job = await db
    .selectFrom('claude_jobs')
    .selectAll()
    .select(leaseIsLive(request).as('leased'))
    .where('id', '=', claim.id)
    .$if(request.lock === true, (query) => query.forNoKeyUpdate())
    .executeTakeFirst();
  if (!job || job.claim_epoch !== claim.epoch || job.status !== 'RUNNING' || !job.leased) {
    const why = !job
      ? 'no longer exists'
      : job.claim_epoch !== claim.epoch
        ? 'was claimed again'
        : job.status !== 'RUNNING'
          ? `is ${claudeJobStatus.toApi(job.status)}`
          : 'lost its lease';
    throw new AppError('job_token_expired', `this job token expired: its job ${claim.id} ${why}`, { id: claim.id });
  }
  const { leased: _leased, ...row } = job;
  return row;
}
