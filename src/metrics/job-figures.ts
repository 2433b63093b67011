/**
 * The jobs' figures of one scrape in one pass over claude_jobs: counts by kind and status, the
 * agents' usage, the run-time histogram of finished jobs and the jobs stopped at a budget. Each
 * used to be a query of its own, each reading the whole table; one pass reads it once.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { ClaudeJobStatus } from '../machines/claude-job.machine.js';
import type { JobKind } from '../job-kinds.js';

export const DURATION_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600];

export interface JobFigures {
  kind: JobKind;
  status: ClaudeJobStatus;
  count: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** Jobs of this kind and status with both a start and a finish. */
  timed: number;
  /** Their run time (finish less start), in seconds. */
  secondsSum: number;
  /** Of the timed jobs, how many ran at most DURATION_BUCKETS[i] seconds. */
  buckets: number[];
  /** Jobs whose error is budget_exceeded. */
  budgetExceeded: number;
}

export async function readJobFigures(db: Db): Promise<JobFigures[]> {
  const seconds = sql`extract(epoch from finished_at - started_at)`;
  const rows = await db
    .selectFrom('claude_jobs')
    .select(['kind', 'status'])
    .select([
      sql<string>`count(*)`.as('count'),
      sql<string>`coalesce(sum(input_tokens), 0)`.as('input_tokens'),
      sql<string>`coalesce(sum(output_tokens), 0)`.as('output_tokens'),
      sql<string>`coalesce(sum(cost_usd), 0)`.as('cost_usd'),
      sql<string>`count(${seconds})`.as('timed'),
      sql<string>`coalesce(sum(${seconds}), 0)`.as('seconds_sum'),
      sql<string>`count(*) FILTER (WHERE error->>'code' = 'budget_exceeded')`.as('budget_exceeded'),
    ])
    .select(DURATION_BUCKETS.map((le, i) => sql<string>`count(*) FILTER (WHERE ${seconds} <= ${le})`.as(`b${i}`)))
    .groupBy(['kind', 'status'])
    .execute();
  return rows.map((row) => {
    const cells = row as unknown as Record<string, string>;
    return {
      kind: row.kind,
      status: row.status,
      count: Number(row.count),
      inputTokens: Number(row.input_tokens),
      outputTokens: Number(row.output_tokens),
      costUsd: Number(row.cost_usd),
      timed: Number(row.timed),
      secondsSum: Number(row.seconds_sum),
      buckets: DURATION_BUCKETS.map((_, i) => Number(cells[`b${i}`])),
      budgetExceeded: Number(row.budget_exceeded),
    };
  });
}
