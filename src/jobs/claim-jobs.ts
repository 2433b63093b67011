/**
 * The claim: QUEUED -> CLAIMED in one guarded statement for a whole batch, binding each job to
 * the worker's token and a new claim epoch, with a lease the worker then keeps renewing. When
 * nothing lies between claiming and starting (every kind today), the same statement also takes
 * CLAIMED -> RUNNING: two history rows, one round trip.
 */
import { sql } from 'kysely';
import type { Trx } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { claudeJobMachine } from '../machines/index.js';
import { transitionMany } from '../transitions/index.js';
import type { WorkerIdentity } from '../workers/worker-registry.js';
import { type Lease, leaseGuard } from './job-lease.js';

export interface ClaimOptions {
  leaseMs: number;
  /** Start the jobs in the same statement (QUEUED -> CLAIMED -> RUNNING). */
  start: boolean;
}

const leaseUntil = (leaseMs: number) => sql`now() + ${leaseMs} * interval '1 millisecond'`;

/** Claims what it can; ids whose row is not QUEUED (a second delivery) come back in `refused`. */
export async function claimJobs(trx: Trx, ids: readonly string[], worker: WorkerIdentity, options: ClaimOptions) {
  const { applied, refused } = await transitionMany(
    trx,
    claudeJobMachine,
    ids.map((id) => ({
      id,
      from: 'QUEUED' as const,
      to: options.start ? ('RUNNING' as const) : ('CLAIMED' as const),
      ...(options.start ? { via: ['CLAIMED' as const] } : {}),
      context: { actorTokenId: worker.tokenId },
    })),
    {
      setSql: {
        claim_epoch: sql`t.claim_epoch + 1`,
        attempt_count: sql`t.attempt_count + 1`,
        claimed_by_token_id: sql`${worker.tokenId}::uuid`,
        claimed_by_worker_id: sql`${worker.workerId}::uuid`,
        claimed_at: sql`now()`,
        lease_expires_at: leaseUntil(options.leaseMs),
        ...(options.start ? { started_at: sql`now()` } : {}),
      },
    },
  );
  return { claimed: applied.map((change) => change.row as ClaudeJob), refused: refused.map((request) => request.id) };
}

/** CLAIMED -> RUNNING for jobs claimed earlier, under their leases. */
export async function startJobs(trx: Trx, leases: readonly Lease[], options: Pick<ClaimOptions, 'leaseMs'>) {
  const { applied, refused } = await transitionMany(
    trx,
    claudeJobMachine,
    leases.map((lease) => ({
      id: lease.jobId,
      from: 'CLAIMED' as const,
      to: 'RUNNING' as const,
      guard: leaseGuard(lease),
      context: { actorTokenId: lease.tokenId },
    })),
    { setSql: { started_at: sql`now()`, lease_expires_at: leaseUntil(options.leaseMs) } },
  );
  return { started: applied.map((change) => change.row as ClaudeJob), refused: refused.map((request) => request.id) };
}

export function leaseOf(job: Pick<ClaudeJob, 'id' | 'claim_epoch' | 'claimed_by_token_id'>): Lease {
  return { jobId: job.id, epoch: job.claim_epoch, tokenId: job.claimed_by_token_id! };
}
