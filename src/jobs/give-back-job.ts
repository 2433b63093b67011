/**
 * A job that must wait goes back to QUEUED without spending an attempt: its provider is paused,
 * or its owner's day is spent (SPEC "Provider limits and budgets"). The change is guarded by the
 * lease like every write after a claim, and its history row says why the job waited and until
 * when. Its BullMQ delivery goes back to the queue only after this commits (job-processor.ts), so
 * the next delivery finds it QUEUED.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { AgentUsage } from '../executors/executor.js';
import { claudeJobMachine } from '../machines/index.js';
import { transitionMany } from '../transitions/index.js';
import { usageColumns } from './finish-jobs.js';
import { type Lease, leaseGuard } from './job-lease.js';

export type WaitTrigger = 'provider_paused' | 'owner_budget_spent';

export interface GiveBack {
  trigger: WaitTrigger;
  reason: string;
  /**
   * What the agent used before the provider refused (a stream cut short): still spent, so kept on
   * the row, where the job's ceilings and, when the job ends, its owner's day count it.
   */
  usage?: AgentUsage;
}

/** Answers false when the lease no longer holds (the job was cancelled or taken meanwhile). */
export async function giveBackJob(db: Db, lease: Lease, { trigger, reason, usage }: GiveBack): Promise<boolean> {
  const { applied } = await db.transaction().execute((trx) =>
    transitionMany(
      trx,
      claudeJobMachine,
      [
        {
          id: lease.jobId,
          from: 'RUNNING',
          to: 'QUEUED',
          trigger,
          guard: leaseGuard(lease),
          // A run refused before it used anything leaves the row's usage as it was (null until some).
          add: usage && usage.inputTokens + usage.outputTokens + usage.costUsd > 0 ? usageColumns(usage) : {},
          context: { actorTokenId: lease.tokenId, reason },
        },
      ],
      {
        setSql: {
          // The attempt was never the job's: give it back, so attempts count only runs an agent could finish.
          attempt_count: sql`greatest(t.attempt_count - 1, 0)`,
          lease_expires_at: sql`NULL`,
          started_at: sql`NULL`,
        },
      },
    ),
  );
  return applied.length > 0;
}
