/**
 * How a step ends, the same in both run modes. Success: the step is COMPLETED with the agent's
 * output and its task goes IN_PROGRESS -> REVIEW -> DONE (verified by the product's check when
 * it has one, else by the agent's own report), which completes the run when it was the last
 * task. Failure: the step is FAILED and its task too (gave_up when it failed its check for the
 * last time), which fails the run, skips the rest and blocks the sprint.
 */
import type { JsonValue } from '../db/column-types.js';
import type { Trx } from '../db/database.js';
import type { AgentOutput } from '../executors/executor.js';
import { stepMachine, taskMachine } from '../machines/index.js';
import { transition } from '../transitions/index.js';
import type { VerifyRecord } from '../jobs/kind-handler.js';
import type { WorkspaceRecord } from '../workspaces/index.js';

export interface StepEnd {
  runId: string;
  stepId: string;
  taskId: string | null;
  actorTokenId: string | null;
}

export function stepOutput(output: AgentOutput, review: StepReview = {}): JsonValue {
  return {
    text: output.text,
    data: output.data,
    agent: output.agent,
    usage: { input_tokens: output.usage.inputTokens, output_tokens: output.usage.outputTokens, cost_usd: output.usage.costUsd },
    ...(review.workspace && { workspace: { ...review.workspace } }),
    ...(review.verify && { verify: { ...review.verify } }),
  };
}

/** What a step's review saw: the job, its pushed workspace and its check (SPEC "Workspaces"). */
export interface StepReview {
  job?: { id: string };
  workspace?: WorkspaceRecord;
  verify?: VerifyRecord;
}

export async function completeStep(trx: Trx, end: StepEnd, output: AgentOutput, review: StepReview = {}): Promise<void> {
  const context = (reason: string, artifacts: JsonValue | null = null) => ({
    actorTokenId: end.actorTokenId,
    reason,
    sprintRunId: end.runId,
    artifacts,
  });
  await transition(trx, stepMachine, {
    id: end.stepId,
    from: 'IN_PROGRESS',
    to: 'COMPLETED',
    set: { output: stepOutput(output, review), agent: output.agent, completed_at: new Date().toISOString() },
    context: context('its agent reported success'),
  });
  if (!end.taskId) return;
  const task = await trx.selectFrom('tasks').select('status').where('id', '=', end.taskId).forUpdate().executeTakeFirstOrThrow();
  if (task.status === 'IN_PROGRESS') {
    await transition(trx, taskMachine, {
      id: end.taskId,
      from: 'IN_PROGRESS',
      to: 'REVIEW',
      trigger: 'implementation_done',
      context: context('step completed', reviewArtifacts(review, 'workspace')),
    });
  }
  if (task.status === 'IN_PROGRESS' || task.status === 'REVIEW') {
    await transition(trx, taskMachine, {
      id: end.taskId,
      from: 'REVIEW',
      to: 'DONE',
      trigger: 'verify_passed',
      context: review.verify
        ? context(`the check \`${review.verify.command}\` passed`, reviewArtifacts(review, 'verify'))
        : context('step verified by its agent'),
    });
  }
}

/** A task transition's artifacts: the job, and the workspace or the check it is about. */
export function reviewArtifacts(review: StepReview, part: 'workspace' | 'verify'): JsonValue | null {
  const detail = review[part];
  if (!review.job && !detail) return null;
  return { ...(review.job && { job_id: review.job.id }), ...(detail && { [part]: { ...detail } }) };
}

export async function failStep(
  trx: Trx,
  end: StepEnd,
  error: string,
  output: AgentOutput | null,
  artifacts: JsonValue | null = null,
): Promise<void> {
  await transition(trx, stepMachine, {
    id: end.stepId,
    from: 'IN_PROGRESS',
    to: 'FAILED',
    set: { output: output ? { ...(stepOutput(output) as object), error } : { error }, completed_at: new Date().toISOString() },
    context: { actorTokenId: end.actorTokenId, reason: error, sprintRunId: end.runId },
  });
  if (!end.taskId) return;
  const task = await trx.selectFrom('tasks').select('status').where('id', '=', end.taskId).forUpdate().executeTakeFirstOrThrow();
  if (task.status === 'IN_PROGRESS' || task.status === 'REVIEW') {
    // From REVIEW the step failed its check for the last time: verification gave up.
    await transition(trx, taskMachine, {
      id: end.taskId,
      from: task.status,
      to: 'FAILED',
      trigger: task.status === 'REVIEW' ? 'gave_up' : 'agent_failed',
      context: { actorTokenId: end.actorTokenId, reason: `step failed: ${error}`, sprintRunId: end.runId, artifacts },
    });
  }
}
