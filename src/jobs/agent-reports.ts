/**
 * What an agent reports about its running job through the MCP tools (SPEC "Agents talk back"):
 * its progress, the usage it spent, and the document it wrote. None of them is a status: they
 * are written beside the status, on the job's row, by the job's holder (src/jobs/job-holder.ts).
 */
import { sql } from 'kysely';
import type { Executor, Trx } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';

export interface Progress {
  message: string;
  percent: number | null;
  at: string;
}

/** Keeps the agent's latest progress on its job. */
export async function saveProgress(
  db: Executor,
  jobId: string,
  report: { message: string; percent?: number | undefined },
): Promise<Progress> {
  const progress: Progress = { message: report.message, percent: report.percent ?? null, at: new Date().toISOString() };
  await db
    .updateTable('claude_jobs')
    .set({ progress: JSON.stringify(progress) })
    .where('id', '=', jobId)
    .execute();
  return progress;
}

export interface UsageReport {
  /** The agent's own id for the report: the same id again adds nothing. */
  id: string;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

export interface UsageTotals {
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

/**
 * Adds reported usage to the job's tokens and cost, once per report id. The agent's final usage
 * (what its executor returns, or update_job_status's) is added to these at the end. Run it in the
 * transaction that holds the job's row (src/jobs/job-holder.ts, `lock`), so it cannot land after the end.
 */
export async function recordUsage(trx: Trx, jobId: string, report: UsageReport): Promise<{ recorded: boolean; totals: UsageTotals }> {
  const inserted = await trx
    .insertInto('job_usage_records')
    .values({
      job_id: jobId,
      id: report.id,
      input_tokens: report.input_tokens,
      output_tokens: report.output_tokens,
      cost_usd: report.cost_usd,
    })
    .onConflict((oc) => oc.columns(['job_id', 'id']).doNothing())
    .returning('id')
    .executeTakeFirst();
  const totals = inserted
    ? await trx
        .updateTable('claude_jobs')
        .set({
          input_tokens: sql`coalesce(input_tokens, 0) + ${report.input_tokens}`,
          output_tokens: sql`coalesce(output_tokens, 0) + ${report.output_tokens}`,
          cost_usd: sql`coalesce(cost_usd, 0) + ${report.cost_usd}`,
        })
        .where('id', '=', jobId)
        .returning(['input_tokens', 'output_tokens', 'cost_usd'])
        .executeTakeFirstOrThrow()
    : await trx
        .selectFrom('claude_jobs')
        .select(['input_tokens', 'output_tokens', 'cost_usd'])
        .where('id', '=', jobId)
        .executeTakeFirstOrThrow();
  return {
    recorded: inserted !== undefined,
    totals: { input_tokens: totals.input_tokens ?? 0, output_tokens: totals.output_tokens ?? 0, cost_usd: Number(totals.cost_usd ?? 0) },
  };
}

/** Keeps the document the agent wrote for its job (a grill or a plan): the job's answer when it ends. */
export async function saveDocument(db: Executor, jobId: string, markdown: string): Promise<void> {
  await db.updateTable('claude_jobs').set({ document: markdown }).where('id', '=', jobId).execute();
}

/** The document an agent wrote through the MCP server while its job ran, if it wrote one. */
export async function documentOf(db: Executor, job: Pick<ClaudeJob, 'id'>): Promise<string | null> {
  const row = await db.selectFrom('claude_jobs').select('document').where('id', '=', job.id).executeTakeFirst();
  return row?.document ?? null;
}
