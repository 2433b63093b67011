/**
 * A lease is a worker's right to write a job: the claim epoch it was given and the token it
 * claimed with. Every write after the claim is guarded on both, so a worker whose claim went
 * stale (the sweeper requeued the job, another worker claimed it) can no longer move it.
 */
import type { Executor } from '../db/database.js';
import type { ClaudeJobStatus } from '../machines/index.js';
import { AppError } from '../errors/app-error.js';
import { claudeJobStatus } from '../spelling/api-spelling.js';

export interface Lease {
  jobId: string;
  epoch: number;
  tokenId: string;
}

export function leaseGuard(lease: Lease) {
  return { claim_epoch: lease.epoch, claimed_by_token_id: lease.tokenId };
}

/**
 * Why a guarded write under this lease matched no row: stale_claim (409) when a newer claim
 * replaced it, claim_token_mismatch (403) when the job is claimed by another token, otherwise
 * status_conflict (409) naming the job's status.
 */
export async function explainLeaseRefusal(db: Executor, lease: Lease, expected: ClaudeJobStatus): Promise<AppError> {
  const job = await db
    .selectFrom('claude_jobs')
    .select(['status', 'claim_epoch', 'claimed_by_token_id'])
    .where('id', '=', lease.jobId)
    .executeTakeFirst();
  if (!job) return new AppError('not_found', `job ${lease.jobId} does not exist`, { id: lease.jobId });
  if (job.claim_epoch !== lease.epoch) {
    return new AppError(
      'stale_claim',
      `job ${lease.jobId} was claimed again (epoch ${job.claim_epoch}); this claim (epoch ${lease.epoch}) is stale`,
      {
        id: lease.jobId,
        epoch: lease.epoch,
        current_epoch: job.claim_epoch,
        status: claudeJobStatus.toApi(job.status),
      },
    );
  }
  if (job.claimed_by_token_id !== lease.tokenId) {
    return new AppError('claim_token_mismatch', `job ${lease.jobId} is claimed by another token`, { id: lease.jobId });
  }
  return new AppError(
    'status_conflict',
    `job ${lease.jobId} is ${claudeJobStatus.toApi(job.status)}, not ${claudeJobStatus.toApi(expected)}`,
    {
      id: lease.jobId,
      current: claudeJobStatus.toApi(job.status),
      expected: claudeJobStatus.toApi(expected),
    },
  );
}
