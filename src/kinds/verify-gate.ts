/**
 * The verify gate (seed 001, Task; SPEC "Workspaces"): what a finished implementation job means
 * for its task, in the job's completion transaction. The task goes IN_PROGRESS -> REVIEW
 * (`implementation_done`, with the pushed workspace); then, when the product has a check:
 * - passed: REVIEW -> DONE (`verify_passed`);
 * - failed with attempts left: REVIEW -> IN_PROGRESS (`verify_failed`) and a new job tries again
 *   from the pushed branch, the failing output in its prompt;
 * - failed on the last attempt: REVIEW -> FAILED (`gave_up`), and inside a sprint run its step
 *   fails too, which fails the run.
 * Without a check the task waits in REVIEW for a person. The job itself is DONE in every case:
 * its agent did its work; the verdict is the task's.
 */
import { randomUUID } from 'node:crypto';
import type { Trx } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { insertJobRows } from '../jobs/insert-job-rows.js';
import type { ResultContext, VerifyRecord } from '../jobs/kind-handler.js';
import { taskMachine } from '../machines/index.js';
import { failStep, reviewArtifacts, type StepEnd } from '../sprints/step-outcome.js';
import { transition } from '../transitions/index.js';
import type { WorkspaceRecord } from '../workspaces/index.js';

export interface TaskReview {
  job: ClaudeJob;
  taskId: string;
  workspace?: WorkspaceRecord;
  verify?: VerifyRecord;
}

/** `step`: the sprint run step the job carried out, when it was one. */
export async function reviewTask(trx: Trx, review: TaskReview, context: ResultContext & { step?: StepEnd }): Promise<void> {
  const { job, taskId, verify } = review;
  const runId = context.step?.runId ?? null;
  const task = await trx.selectFrom('tasks').select('status').where('id', '=', taskId).forUpdate().executeTakeFirstOrThrow();
  // A person moved the task while the job ran (submitted, accepted, marked it failed): theirs to
  // decide. The job's result still records its workspace and check.
  if (task.status !== 'IN_PROGRESS') return;
  const about = (reason: string, artifacts: ReturnType<typeof reviewArtifacts>) => ({
    actorTokenId: context.actorTokenId,
    reason,
    artifacts,
    sprintRunId: runId,
  });
  await transition(trx, taskMachine, {
    id: taskId,
    from: 'IN_PROGRESS',
    to: 'REVIEW',
    trigger: 'implementation_done',
    context: about(`TASK_IMPLEMENTATION job ${job.id} finished`, reviewArtifacts(review, 'workspace')),
  });
  if (!verify) return;

  if (verify.passed) {
    await transition(trx, taskMachine, {
      id: taskId,
      from: 'REVIEW',
      to: 'DONE',
      trigger: 'verify_passed',
      context: about(`the check \`${verify.command}\` passed`, reviewArtifacts(review, 'verify')),
    });
    return;
  }

  const failed = `the check \`${verify.command}\` failed (${verify.timed_out ? 'timed out' : `exit code ${verify.exit_code}`}) on attempt ${verify.attempt} of ${verify.max_attempts}`;
  if (verify.attempt >= verify.max_attempts) {
    if (context.step) {
      // The step fails and takes its task with it (REVIEW -> FAILED, gave_up), which fails the run.
      await failStep(trx, context.step, failed, null, reviewArtifacts(review, 'verify'));
      return;
    }
    await transition(trx, taskMachine, {
      id: taskId,
      from: 'REVIEW',
      to: 'FAILED',
      trigger: 'gave_up',
      context: about(`${failed}; giving up`, reviewArtifacts(review, 'verify')),
    });
    return;
  }

  const retryId = randomUUID();
  await transition(trx, taskMachine, {
    id: taskId,
    from: 'REVIEW',
    to: 'IN_PROGRESS',
    trigger: 'verify_failed',
    context: about(`${failed}; retried as job ${retryId}`, {
      ...(reviewArtifacts(review, 'verify') as object),
      retry_job_id: retryId,
    }),
  });
  // The caller's own payload again (instructions), without the previous attempt's verify.
  const { verify: _previous, ...payload } = job.payload as Record<string, unknown>;
  const { created } = await insertJobRows(
    trx,
    [
      {
        id: retryId,
        kind: 'TASK_IMPLEMENTATION',
        subjectId: taskId,
        sprintRunId: runId,
        retryOf: job.id,
        // The retry carries on the job's trace.
        trace: job.trace_context,
        payload,
        internal: { verify: { attempt: verify.attempt + 1, command: verify.command, failure: verify.output_tail } },
      },
    ],
    { actorTokenId: context.actorTokenId },
  );
  context.enqueued.push(...created);
}
