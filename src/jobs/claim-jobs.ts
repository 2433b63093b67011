/**
 * The claim: QUEUED -> CLAIMED in one guarded statement for a whole batch, binding each job to
 * the worker's token and a new claim epoch, under a lease: the worker's own (a worker process's
 * heartbeat keeps it for every job it runs: src/jobs/worker-lease.ts), or one of the job's own
 * that its holder renews (pull mode). When
 * nothing lies between claiming and starting (every kind today), the same statement also takes
 * CLAIMED -> RUNNING: two history rows, one round trip.
 */
import { sql } from 'kysely';
import type { Trx } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { claudeJobMachine } from '../machines/index.js';
import { transitionMany } from '../transitions/index.js';
import { type Lease, leaseGuard } from './job-lease.js';

/** The worker a claim binds its jobs to (registered by src/workers/worker-registry.ts). */
export interface WorkerIdentity {
  workerId: string;
  /** The api_tokens row the worker's claims are bound to. */
  tokenId: string;
}

export interface ClaimOptions {
  /**
   * The job's own lease, renewed by its holder (pull mode's job_heartbeat); null: the job hangs
   * from its worker's lease, and its lease_expires_at stays NULL.
   */
  leaseMs: number | null;
  /** Start the jobs in the same statement (QUEUED -> CLAIMED -> RUNNING). */
  start: boolean;
}

const leaseUntil = (leaseMs: number | null) => (leaseMs === null ? sql`NULL` : sql`now() + ${leaseMs} * interval '1 millisecond'`);

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

export interface DeliveryClaims {
  claimed: ClaudeJob[];
  /** Ids whose row this transaction cannot see at all: their delivery came before the commit did. */
  unseen: string[];
}

/**
 * The claim of a batch of deliveries. A refused id is read again before its delivery is given up
 * as a second one: the claim statement's snapshot may predate the commit of a row whose queue add
 * it raced (an enqueue that committed while the claim began). A row that is QUEUED now is claimed
 * by a second statement; a row that does not exist for this transaction is `unseen`, and its
 * delivery is to be tried again later rather than dropped (its row could stay QUEUED, with no
 * queue entry, until reconcile). Only a row seen in another status is a second delivery.
 */
export async function claimDeliveries(
  trx: Trx,
  ids: readonly string[],
  worker: WorkerIdentity,
  options: ClaimOptions,
): Promise<DeliveryClaims> {
  const first = await claimJobs(trx, ids, worker, options);
  if (first.refused.length === 0) return { claimed: first.claimed, unseen: [] };
  const rows = await trx
    .selectFrom('claude_jobs')
    .select(['id', 'status'])
    .where('id', 'in', [...new Set(first.refused)])
    .execute();
  const claimedIds = new Set(first.claimed.map((job) => job.id));
  const queued = rows.filter((row) => row.status === 'QUEUED' && !claimedIds.has(row.id)).map((row) => row.id);
  const second = queued.length > 0 ? (await claimJobs(trx, queued, worker, options)).claimed : [];
  const seen = new Set(rows.map((row) => row.id));
  return { claimed: [...first.claimed, ...second], unseen: first.refused.filter((id) => !seen.has(id)) };
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
