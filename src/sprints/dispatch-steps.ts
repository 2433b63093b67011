/**
 * Per-task runs: each step is its own TASK_IMPLEMENTATION job, dispatched once every step it
 * depends on has completed, so independent tasks run in parallel across the fleet. Dispatching
 * happens when the run starts or resumes and after every step that completes; the run row is
 * locked first, so two completions cannot dispatch the same step twice.
 */
import { sql } from 'kysely';
import type { Trx } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { insertJobRows } from '../jobs/insert-job-rows.js';
import { rootTraceContext } from '../telemetry/tracing.js';

/** The jobs dispatched (QUEUED, to be added to their queue after commit). */
export async function dispatchReadySteps(trx: Trx, runId: string, context: { actorTokenId: string | null }): Promise<ClaudeJob[]> {
  const run = await trx.selectFrom('sprint_runs').select(['status', 'mode']).where('id', '=', runId).forUpdate().executeTakeFirstOrThrow();
  if (run.status !== 'RUNNING' || run.mode !== 'PER_TASK') return [];

  const ready = await sql<{ id: string; task_id: string }>`
    SELECT s.id, s.task_id FROM steps s
    WHERE s.sprint_run_id = ${runId} AND s.status = 'PENDING' AND s.job_id IS NULL AND s.task_id IS NOT NULL
      AND NOT EXISTS (
        SELECT 1 FROM task_dependencies d
        JOIN steps waited ON waited.sprint_run_id = s.sprint_run_id AND waited.task_id = d.depends_on_task_id
        WHERE d.task_id = s.task_id AND waited.status <> 'COMPLETED'
      )
    ORDER BY s.position
  `.execute(trx);
  if (ready.rows.length === 0) return [];

  // The run vouches for its steps' tasks, so the kind's own enqueue checks are not needed here.
  // No request asked for these steps: with tracing on, they start a trace of their own (named
  // explicitly: a worker process carries no active context).
  const trace = rootTraceContext('jobfleet.sprint.dispatch', { 'jobfleet.sprint_run.id': runId, 'jobfleet.job.count': ready.rows.length });
  const { created } = await insertJobRows(
    trx,
    ready.rows.map((step) => ({ kind: 'TASK_IMPLEMENTATION' as const, subjectId: step.task_id, sprintRunId: runId, trace })),
    context,
  );
  await sql`
    UPDATE steps SET job_id = d.job_id, updated_at = now()
    FROM unnest(${ready.rows.map((step) => step.id)}::uuid[], ${created.map((job) => job.id)}::uuid[]) AS d(step_id, job_id)
    WHERE steps.id = d.step_id
  `.execute(trx);
  return created.filter((job) => job.status === 'QUEUED');
}
