/**
 * The `budget_exceeded` notice: a job was stopped at one of its ceilings (its own max_cost_usd,
 * max_output_tokens or max_turns, or its owner's daily budget) and failed. Like the other job
 * notices (src/events/job-notices.ts) it is scoped to the job's owner and never replayed; the
 * job's FAILED status change comes as its own event, and its error holds the details for good.
 *
 * The worker publishes it after the failure committed, so no client hears of a failure that a
 * rollback undid.
 */
import type { RedisClient } from '../queues/redis-connections.js';
import type { BudgetExceeded } from '../executors/usage-meter.js';
import type { OwnedEvent } from './fleet-event.js';
import { jobNotice, type NoticeJob, publishJobNotices } from './job-notices.js';

export interface BudgetExceededItem {
  /** The job as it is after its failure (status FAILED), with its product's owner. */
  job: NoticeJob;
  budget: BudgetExceeded;
}

export function budgetExceededEvent({ job, budget }: BudgetExceededItem): OwnedEvent {
  return jobNotice('budget_exceeded', job, { budget: { ceiling: budget.ceiling, limit: budget.limit, used: budget.used } }, null);
}

/** Publishes one notice per stopped job. Rejects when Redis does: log it and carry on. */
export async function publishBudgetExceeded(redis: RedisClient, prefix: string, items: readonly BudgetExceededItem[]): Promise<void> {
  await publishJobNotices(redis, prefix, items.map(budgetExceededEvent));
}
