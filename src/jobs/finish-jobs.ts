/**
 * The end of a run: RUNNING -> DONE (result, token usage, cost) or RUNNING -> FAILED (error) for
 * a whole batch, each guarded by its lease, and the kinds' results written for the jobs that
 * reached DONE, all in one transaction. A completion whose lease no longer holds (cancelled,
 * failed by the sweeper, claimed again) writes nothing and comes back refused.
 */
import { sql } from 'kysely';
import { addSpend } from '../budgets/owner-budgets.js';
import { utcDay } from '../util/clock.js';
import type { JsonValue } from '../db/column-types.js';
import type { AgentUsage } from '../executors/executor.js';
import type { Trx } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { installedHandlerOf as handlerOf } from './installed-kinds.js';
import type { FinishedJob, RunOutput, Verdict } from './kind-handler.js';
import { claudeJobMachine } from '../machines/index.js';
import type { JobKind } from '../queues/kinds.js';
import { groupBy } from '../util/group-by.js';
import { type TransitionRequest, transitionMany } from '../transitions/index.js';
import { type Lease, leaseGuard } from './job-lease.js';

export interface Completion {
  lease: Lease;
  kind: JobKind;
  verdict: Verdict;
  /** What the agent returned; null when it never returned (it threw). */
  output: RunOutput | null;
  /** The usage counted while it ran, for a run that returned no output (stopped at its budget, failed). */
  usage?: AgentUsage;
}

export interface FinishOutcome {
  finished: ClaudeJob[];
  refused: Completion[];
  /** Jobs the results enqueued (a sprint run's next steps): add them to their queues after commit. */
  enqueued: ClaudeJob[];
}

/** The agent's usage as the row's columns, added to what it reported while it ran (`record_usage` over MCP). */
export function usageColumns(usage: AgentUsage | undefined): Record<string, number> {
  if (!usage) return {};
  return { input_tokens: tokens(usage.inputTokens), output_tokens: tokens(usage.outputTokens), cost_usd: dollars(usage.costUsd) };
}

/**
 * What an agent reports is believed within the bounds `record_usage` accepts over MCP: a billion
 * tokens, a million dollars per report. Beyond them it is a broken or hostile agent, and its
 * figures must not keep its outcome out of Postgres.
 */
const tokens = (value: number) => (Number.isFinite(value) ? Math.min(Math.max(0, Math.round(value)), 1_000_000_000) : 0);
const dollars = (value: number) => (Number.isFinite(value) ? Math.min(Math.max(0, value), 1_000_000) : 0);

export interface FinishOptions {
  /** The UTC day (`YYYY-MM-DD`) the jobs' cost counts against their owners' budgets (default: today, by this host's clock). */
  day: string;
}

export async function finishJobs(
  trx: Trx,
  completions: readonly Completion[],
  options: FinishOptions = { day: utcDay(new Date()) },
): Promise<FinishOutcome> {
  const requests: TransitionRequest<typeof claudeJobMachine>[] = completions.map(({ lease, verdict, output, usage }) => ({
    id: lease.jobId,
    from: 'RUNNING',
    to: verdict.status,
    trigger: verdict.status === 'DONE' ? 'agent_done' : 'agent_failed',
    guard: leaseGuard(lease),
    set:
      verdict.status === 'DONE'
        ? { result: verdict.result }
        : { error: verdict.error as unknown as JsonValue, result: verdict.result ?? null },
    add: usageColumns(output?.usage ?? usage),
    context: {
      actorTokenId: lease.tokenId,
      reason: verdict.status === 'FAILED' ? verdict.error.message : null,
    },
  }));
  const { applied, refused } = await transitionMany(trx, claudeJobMachine, requests, {
    setSql: { finished_at: sql`now()`, lease_expires_at: sql`NULL` },
  });

  // Map back by request, not by id: a batch may carry two completions of one job.
  const completionOf = new Map(requests.map((request, index) => [request, completions[index]!]));
  const done: FinishedJob[] = applied
    .filter((change) => change.row.status === 'DONE')
    .map((change) => ({ job: change.row as ClaudeJob, output: completionOf.get(change.request)!.output! }));
  // What the jobs cost, all of it (reported over MCP while they ran, and their answer's), is their owners' spend.
  await addSpend(
    trx,
    options.day,
    applied.map((change) => ({ productId: change.row.product_id, costUsd: Number(change.row.cost_usd ?? 0) })),
  );
  const enqueued: ClaudeJob[] = [];
  for (const [kind, finished] of groupBy(done, (item) => item.job.kind)) {
    await handlerOf(kind).applyDone(trx, finished, { actorTokenId: finished[0]!.job.claimed_by_token_id, enqueued });
  }

  return {
    enqueued,
    finished: applied.map((change) => change.row as ClaudeJob),
    refused: refused.map((request) => completionOf.get(request)!),
  };
}
