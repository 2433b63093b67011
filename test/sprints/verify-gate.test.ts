/**
 * The verify gate in the completion transaction (src/kinds/verify-gate.ts): what a finished
 * implementation job's check does to its task, through the door, and the retry it enqueues.
 * The git side and whole jobs on real repositories are test/pipeline/workspace*.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import type { ClaudeJob } from '../../src/db/tables/claude-job.table.js';
import { insertJobRows } from '../../src/jobs/insert-job-rows.js';
import type { VerifyRecord } from '../../src/jobs/kind-handler.js';
import { handlerOf } from '../../src/kinds/index.js';
import { reviewTask } from '../../src/kinds/verify-gate.js';
import { MACHINES } from '../../src/machines/index.js';
import { listHistory } from '../../src/transitions/history.repository.js';
import { transition } from '../../src/transitions/index.js';
import { createProduct, createSprintRuns, createTasks } from '../helpers/subjects.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';

let test: TestDatabase;
let db: Db;
let product: string;
beforeAll(async () => {
  test = await createTestDatabase();
  db = test.db;
  product = await createProduct(db);
});
afterAll(async () => {
  await test.drop();
});

const WORKSPACE = {
  branch: 'jobfleet/task-x',
  base_sha: 'a'.repeat(40),
  head_sha: 'b'.repeat(40),
  changed_files: ['src/app.ts'],
  insertions: 3,
  deletions: 1,
  pushed: true,
};

function verify(passed: boolean, attempt: number, maxAttempts = 3): VerifyRecord {
  return {
    command: 'npm test',
    passed,
    exit_code: passed ? 0 : 1,
    timed_out: false,
    output_tail: passed ? 'ok' : 'FAIL test/app.test.ts: expected 2, got 3',
    attempt,
    max_attempts: maxAttempts,
  };
}

/** A task IN_PROGRESS with one job for it, as a worker leaves them when the job finishes. */
async function taskWithJob(
  payload: Record<string, unknown> = {},
  internal?: Record<string, unknown>,
): Promise<{ taskId: string; job: ClaudeJob }> {
  const [taskId] = await createTasks(db, product, 1);
  const job = await db.transaction().execute(async (trx) => {
    await transition(trx, MACHINES.TASK, { id: taskId!, from: 'TO_DO', to: 'IN_PROGRESS', trigger: 'user_starts' });
    const { created } = await insertJobRows(trx, [{ kind: 'TASK_IMPLEMENTATION', subjectId: taskId!, payload, internal }], {
      actorTokenId: null,
    });
    return created[0]!;
  });
  return { taskId: taskId!, job };
}

async function review(job: ClaudeJob, taskId: string, record?: VerifyRecord): Promise<ClaudeJob[]> {
  const enqueued: ClaudeJob[] = [];
  await db
    .transaction()
    .execute((trx) => reviewTask(trx, { job, taskId, workspace: WORKSPACE, verify: record }, { actorTokenId: null, enqueued }));
  return enqueued;
}

const statusOf = async (taskId: string) =>
  (await db.selectFrom('tasks').select('status').where('id', '=', taskId).executeTakeFirstOrThrow()).status;

describe('the verify gate', () => {
  it('without a check: the task waits in REVIEW, its history row carrying the workspace', async () => {
    const { taskId, job } = await taskWithJob();
    expect(await review(job, taskId)).toEqual([]);
    expect(await statusOf(taskId)).toBe('REVIEW');
    const [last] = (await listHistory(db, 'TASK', taskId)).slice(-1);
    expect(last).toMatchObject({ trigger: 'implementation_done', artifacts: { job_id: job.id, workspace: WORKSPACE } });
  });

  it('a passing check: REVIEW -> DONE (verify_passed) with the check in the artifacts', async () => {
    const { taskId, job } = await taskWithJob();
    expect(await review(job, taskId, verify(true, 1))).toEqual([]);
    expect(await statusOf(taskId)).toBe('DONE');
    const history = await listHistory(db, 'TASK', taskId);
    expect(history.slice(-2).map((row) => [row.from_status, row.to_status, row.trigger])).toEqual([
      ['IN_PROGRESS', 'REVIEW', 'implementation_done'],
      ['REVIEW', 'DONE', 'verify_passed'],
    ]);
    expect(history.at(-1)!.artifacts).toMatchObject({ job_id: job.id, verify: { command: 'npm test', passed: true } });
  });

  it('a failing check with attempts left: back to IN_PROGRESS and a retry job whose prompt carries the failure', async () => {
    const { taskId, job } = await taskWithJob({ instructions: 'Keep it small.' });
    const enqueued = await review(job, taskId, verify(false, 1));
    expect(await statusOf(taskId)).toBe('IN_PROGRESS');
    expect(enqueued).toHaveLength(1);
    const retry = enqueued[0]!;
    expect(retry).toMatchObject({ kind: 'TASK_IMPLEMENTATION', task_id: taskId, status: 'QUEUED', retry_of_job_id: job.id });
    expect(retry.payload).toEqual({
      instructions: 'Keep it small.',
      verify: { attempt: 2, command: 'npm test', failure: 'FAIL test/app.test.ts: expected 2, got 3' },
    });
    const last = (await listHistory(db, 'TASK', taskId)).at(-1)!;
    expect(last).toMatchObject({ from_status: 'REVIEW', to_status: 'IN_PROGRESS', trigger: 'verify_failed' });
    expect(last.artifacts).toMatchObject({ job_id: job.id, retry_job_id: retry.id, verify: { passed: false, attempt: 1 } });

    const prompts = await handlerOf('TASK_IMPLEMENTATION').buildPrompts(db, [retry]);
    const prompt = prompts.get(retry.id)!.user;
    expect(prompt).toContain('Keep it small.');
    expect(prompt).toContain('This is attempt 2: the check failed');
    expect(prompt).toContain('FAIL test/app.test.ts: expected 2, got 3');
  });

  it('a failing check on the last attempt: REVIEW -> FAILED (gave_up), no retry', async () => {
    const { taskId, job } = await taskWithJob({}, { verify: { attempt: 3, command: 'npm test', failure: 'earlier' } });
    expect(await review(job, taskId, verify(false, 3))).toEqual([]);
    expect(await statusOf(taskId)).toBe('FAILED');
    const last = (await listHistory(db, 'TASK', taskId)).at(-1)!;
    expect(last).toMatchObject({ from_status: 'REVIEW', to_status: 'FAILED', trigger: 'gave_up' });
  });

  it('refuses a verify field from a caller: only jobfleet sets it', async () => {
    const [taskId] = await createTasks(db, product, 1);
    await expect(
      db.transaction().execute((trx) =>
        insertJobRows(
          trx,
          [{ kind: 'TASK_IMPLEMENTATION', subjectId: taskId!, payload: { verify: { attempt: 9, command: 'x', failure: '' } } }],
          {
            actorTokenId: null,
          },
        ),
      ),
    ).rejects.toMatchObject({ code: 'validation_failed' });
  });

  it('leaves a task a person moved while the job ran where they put it, whatever the check said', async () => {
    const { taskId, job } = await taskWithJob();
    await db
      .transaction()
      .execute((trx) => transition(trx, MACHINES.TASK, { id: taskId, from: 'IN_PROGRESS', to: 'REVIEW', trigger: 'user_submits' }));
    expect(await review(job, taskId, verify(false, 1))).toEqual([]);
    expect(await statusOf(taskId)).toBe('REVIEW');
    expect((await listHistory(db, 'TASK', taskId)).at(-1)).toMatchObject({ trigger: 'user_submits' });
  });

  describe('on a step of a running sprint run', () => {
    /** A running run whose one step and task are IN_PROGRESS, and the step's job. */
    async function runningStep() {
      const [runId] = await createSprintRuns(db, product, 1, { tasks: 1 });
      return db.transaction().execute(async (trx) => {
        const step = await trx.selectFrom('steps').selectAll().where('sprint_run_id', '=', runId!).executeTakeFirstOrThrow();
        await transition(trx, MACHINES.SPRINT_RUN, { id: runId!, from: 'QUEUED', to: 'RUNNING', trigger: 'worker_started' });
        await transition(trx, MACHINES.STEP, { id: step.id, from: 'PENDING', to: 'IN_PROGRESS' });
        await transition(trx, MACHINES.TASK, {
          id: step.task_id!,
          from: 'TO_DO',
          to: 'IN_PROGRESS',
          trigger: 'agent_started',
          context: { sprintRunId: runId! },
        });
        const { created } = await insertJobRows(trx, [{ kind: 'TASK_IMPLEMENTATION', subjectId: step.task_id!, sprintRunId: runId! }], {
          actorTokenId: null,
        });
        return { runId: runId!, stepId: step.id, taskId: step.task_id!, job: created[0]! };
      });
    }

    async function reviewStep(at: Awaited<ReturnType<typeof runningStep>>, record: VerifyRecord): Promise<ClaudeJob[]> {
      const enqueued: ClaudeJob[] = [];
      const step = { runId: at.runId, stepId: at.stepId, taskId: at.taskId, actorTokenId: null };
      await db
        .transaction()
        .execute((trx) =>
          reviewTask(trx, { job: at.job, taskId: at.taskId, workspace: WORKSPACE, verify: record }, { actorTokenId: null, enqueued, step }),
        );
      return enqueued;
    }

    const statuses = async (at: Awaited<ReturnType<typeof runningStep>>) => ({
      run: (await db.selectFrom('sprint_runs').select('status').where('id', '=', at.runId).executeTakeFirstOrThrow()).status,
      step: (await db.selectFrom('steps').select('status').where('id', '=', at.stepId).executeTakeFirstOrThrow()).status,
      task: await statusOf(at.taskId),
    });

    it('a failing check with attempts left keeps the step running and retries the task inside the run', async () => {
      const at = await runningStep();
      const [retry] = await reviewStep(at, verify(false, 1));
      expect(await statuses(at)).toEqual({ run: 'RUNNING', step: 'IN_PROGRESS', task: 'IN_PROGRESS' });
      expect(retry).toMatchObject({ task_id: at.taskId, sprint_run_id: at.runId, retry_of_job_id: at.job.id });
    });

    it('a failing check on the last attempt fails the step, the task (gave_up) and so the run', async () => {
      const at = await runningStep();
      expect(await reviewStep(at, verify(false, 3))).toEqual([]);
      expect(await statuses(at)).toEqual({ run: 'FAILED', step: 'FAILED', task: 'FAILED' });
      const last = (await listHistory(db, 'TASK', at.taskId)).at(-1)!;
      expect(last).toMatchObject({ from_status: 'REVIEW', to_status: 'FAILED', trigger: 'gave_up' });
    });
  });
});
