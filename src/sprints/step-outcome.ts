/**
 * How a step ends, the same in both run modes. Success: the step is COMPLETED with the agent's
 * output and its task goes IN_PROGRESS -> REVIEW -> DONE (inside a sprint run the agent's own
 * verification is the review), which completes the run when it was the last task. Failure: the
 * step is FAILED and its task too, which fails the run, skips the rest and blocks the sprint.
 */
import type { JsonValue } from '../db/column-types.js';
import type { Trx } from '../db/database.js';
import type { AgentOutput } from '../executors/executor.js';
import { stepMachine, taskMachine } from '../machines/index.js';
import { transition } from '../transitions/index.js';

export interface StepEnd {
  runId: string;
  stepId: string;
  taskId: string | null;
  actorTokenId: string | null;
}

export function stepOutput(output: AgentOutput): JsonValue {
  return {
    text: output.text,
    data: output.data,
    agent: output.agent,
    usage: { input_tokens: output.usage.inputTokens, output_tokens: output.usage.outputTokens, cost_usd: output.usage.costUsd },
  };
}

export async function completeStep(trx: Trx, end: StepEnd, output: AgentOutput): Promise<void> {
  const context = (reason: string) => ({ actorTokenId: end.actorTokenId, reason, sprintRunId: end.runId });
  await transition(trx, stepMachine, {
    id: end.stepId,
    from: 'IN_PROGRESS',
    to: 'COMPLETED',
    set: { output: stepOutput(output), agent: output.agent, completed_at: new Date().toISOString() },
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
      context: context('step completed'),
    });
  }
  if (task.status === 'IN_PROGRESS' || task.status === 'REVIEW') {
    await transition(trx, taskMachine, {
      id: end.taskId,
      from: 'REVIEW',
      to: 'DONE',
      trigger: 'verify_passed',
      context: context('step verified by its agent'),
    });
  }
}

export async function failStep(trx: Trx, end: StepEnd, error: string, output: AgentOutput | null): Promise<void> {
  await transition(trx, stepMachine, {
    id: end.stepId,
    from: 'IN_PROGRESS',
    to: 'FAILED',
    set: { output: output ? { ...(stepOutput(output) as object), error } : { error }, completed_at: new Date().toISOString() },
    context: { actorTokenId: end.actorTokenId, reason: error, sprintRunId: end.runId },
  });
  if (!end.taskId) return;
  const task = await trx.selectFrom('tasks').select('status').where('id', '=', end.taskId).forUpdate().executeTakeFirstOrThrow();
  if (task.status === 'IN_PROGRESS') {
    await transition(trx, taskMachine, {
      id: end.taskId,
      from: 'IN_PROGRESS',
      to: 'FAILED',
      trigger: 'agent_failed',
      context: { actorTokenId: end.actorTokenId, reason: `step failed: ${error}`, sprintRunId: end.runId },
    });
  }
}
