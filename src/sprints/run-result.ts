/**
 * The result of a sprint run, written when it ends (done, failed or cancelled): whether it
 * succeeded, how many steps completed of how many, what each agent reported, the deferred items
 * gathered from every agent's result, and how long it took.
 */
import type { JsonValue } from '../db/column-types.js';
import type { Executor } from '../db/database.js';

export interface AgentResult {
  step_id: string;
  position: number;
  task_id: string | null;
  status: string;
  agent: string | null;
  summary: string | null;
  deferred: string[];
}

export interface RunResult {
  sprint_id: string;
  success: boolean;
  steps_completed: number;
  steps_total: number;
  agent_results: AgentResult[];
  deferred: string[];
  duration_seconds: number;
}

/** Deferred items an agent reported in its structured output (`{"deferred": [...]}`). */
export function deferredOf(data: JsonValue | undefined): string[] {
  if (data === null || data === undefined || typeof data !== 'object' || Array.isArray(data)) return [];
  const deferred = data.deferred;
  return Array.isArray(deferred) ? deferred.filter((item): item is string => typeof item === 'string') : [];
}

function summaryOf(output: JsonValue): string | null {
  if (output === null || typeof output !== 'object' || Array.isArray(output)) return null;
  const data = output.data;
  if (data && typeof data === 'object' && !Array.isArray(data) && typeof data.summary === 'string') return data.summary;
  if (typeof output.error === 'string') return output.error;
  return typeof output.text === 'string' ? output.text.slice(0, 500) : null;
}

export async function computeRunResult(db: Executor, runId: string, endedAt: Date): Promise<RunResult> {
  const run = await db
    .selectFrom('sprint_runs')
    .select(['sprint_id', 'status', 'started_at', 'created_at'])
    .where('id', '=', runId)
    .executeTakeFirstOrThrow();
  const steps = await db.selectFrom('steps').selectAll().where('sprint_run_id', '=', runId).orderBy('position').execute();
  const agentResults = steps
    .filter((step) => step.status !== 'PENDING')
    .map((step) => ({
      step_id: step.id,
      position: step.position,
      task_id: step.task_id,
      status: step.status.toLowerCase(),
      agent: step.agent,
      summary: summaryOf(step.output),
      deferred: deferredOf(step.output && typeof step.output === 'object' && !Array.isArray(step.output) ? step.output.data : null),
    }));
  const started = run.started_at ?? run.created_at;
  return {
    sprint_id: run.sprint_id,
    success: run.status === 'DONE',
    steps_completed: steps.filter((step) => step.status === 'COMPLETED').length,
    steps_total: steps.length,
    agent_results: agentResults,
    deferred: agentResults.flatMap((result) => result.deferred),
    duration_seconds: Math.max(0, Math.round((endedAt.getTime() - started.getTime()) / 1000)),
  };
}
