/**
 * Failing jobs whose agent was taken from them (the worker died, or shut down before the agent
 * finished). Each job is FAILED with the given trigger and error; when its kind allows it and
 * the retry cap is not reached, a new job with the same kind, subject and payload is created to
 * carry on, and the failure leaves the subject where it is (context.retriedAs).
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { JsonValue } from '../db/column-types.js';
import type { Trx } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import type { JobError } from './kind-handler.js';
import { claudeJobMachine } from '../machines/index.js';
import { KINDS } from '../queues/kinds.js';
import { createEntities, transitionMany } from '../transitions/index.js';

export interface LostJobsOptions {
  trigger: 'worker_lost' | 'agent_failed';
  error: JobError;
  /** How many times a job may be put back (stale requeues and lost-worker retries together). */
  maxRetries: number;
  actorTokenId: string | null;
}

export interface LostJobsOutcome {
  failed: ClaudeJob[];
  /** The new jobs that carry on; they are QUEUED and still need adding to their queues. */
  retries: ClaudeJob[];
}

/** `jobs` are RUNNING rows as read (and locked) by the caller; their epoch guards the change. */
export async function failLostJobs(trx: Trx, jobs: readonly ClaudeJob[], options: LostJobsOptions): Promise<LostJobsOutcome> {
  if (jobs.length === 0) return { failed: [], retries: [] };
  const retryIds = new Map<string, string>();
  for (const job of jobs) {
    if (KINDS[job.kind].retryWhenWorkerLost && job.requeue_count < options.maxRetries) retryIds.set(job.id, randomUUID());
  }

  const { applied } = await transitionMany(
    trx,
    claudeJobMachine,
    jobs.map((job) => {
      const retriedAs = retryIds.get(job.id) ?? null;
      return {
        id: job.id,
        from: 'RUNNING' as const,
        to: 'FAILED' as const,
        trigger: options.trigger,
        guard: { claim_epoch: job.claim_epoch },
        set: { error: { ...options.error, retried_as: retriedAs } as unknown as JsonValue },
        context: {
          actorTokenId: options.actorTokenId,
          reason: retriedAs ? `${options.error.message}; retried as job ${retriedAs}` : options.error.message,
          retriedAs,
        },
      };
    }),
    { setSql: { finished_at: sql`now()`, lease_expires_at: sql`NULL` } },
  );

  const failed = applied.map((change) => change.row as ClaudeJob);
  const toRetry = failed.filter((job) => retryIds.has(job.id));
  const retries = await createEntities(
    trx,
    claudeJobMachine,
    toRetry.map((job) => ({
      id: retryIds.get(job.id)!,
      kind: job.kind,
      idea_id: job.idea_id,
      task_id: job.task_id,
      sprint_run_id: job.sprint_run_id,
      product_id: job.product_id,
      owner_id: job.owner_id,
      // A retry keeps its job's turn: it was due already.
      turn: job.turn,
      payload: JSON.stringify(job.payload),
      retry_of_job_id: job.id,
      requeue_count: job.requeue_count + 1,
      created_by_token_id: job.created_by_token_id,
      // The retry carries on the job's trace; a job enqueued untraced leaves the column out.
      ...(job.trace_context ? { trace_context: job.trace_context } : {}),
    })),
    { actorTokenId: options.actorTokenId, reason: `retry after ${options.error.code}` },
  );
  return { failed, retries: retries.map((created) => created.row as ClaudeJob) };
}
