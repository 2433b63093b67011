/**
 * SPRINT_IMPLEMENTATION: drives one sprint run. Its onStarted / onFailed start the run when the job
 * starts (QUEUED -> RUNNING) and fails it when the job fails for good. What the job does depends
 * on the run's mode:
 * - SPRINT_BATCH: it runs the steps in order itself (src/sprints/sprint-batch.ts);
 * - PER_TASK: it dispatches the steps that are ready as TASK_IMPLEMENTATION jobs and finishes;
 *   each step's completion dispatches the next ones (src/sprints/dispatch-steps.ts).
 * A new sprint job continues a run that is running but has none (resume does exactly that).
 * The run becomes DONE through its tasks' cascade when its last task is done; its result is
 * written by the run's cascade when it ends.
 */
import type { Trx } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { AppError } from '../errors/app-error.js';
import { sprintRunMachine } from '../machines/index.js';
import { sprintRunStatus } from '../spelling/api-spelling.js';
import { dispatchReadySteps } from '../sprints/dispatch-steps.js';
import { runSprintBatch } from '../sprints/sprint-batch.js';
import { insertJobRows } from '../jobs/insert-job-rows.js';
import { type AppliedTransition, type Door, inherited, transition } from '../transitions/index.js';
import { describeJobChange } from './claude-job.cascade.js';
import { type KindHandler, resultOf } from '../jobs/kind-handler.js';
import { inWorkspace } from '../jobs/workspace-run.js';
import { productRepository } from '../backlog/product-repository.js';

/** The branch a SPRINT_BATCH run's steps commit onto, one after another. */
export function runBranch(runId: string): string {
  return `jobfleet/run-${runId}`;
}

export const sprintImplementationKind: KindHandler<'SPRINT_IMPLEMENTATION'> = {
  kind: 'SPRINT_IMPLEMENTATION',

  async onEnqueue(trx, jobs) {
    for (const job of jobs) {
      const run = await trx
        .selectFrom('sprint_runs')
        .select(['id', 'status'])
        .where('id', '=', job.sprint_run_id!)
        .forUpdate()
        .executeTakeFirst();
      if (!run) throw new AppError('not_found', `sprint run ${job.sprint_run_id} does not exist`, { sprint_run_id: job.sprint_run_id });
      if (run.status !== 'QUEUED' && run.status !== 'RUNNING') {
        throw new AppError(
          'status_conflict',
          `sprint run ${run.id} is ${sprintRunStatus.toApi(run.status)}; a sprint job drives a queued or running run`,
          {
            sprint_run_id: run.id,
            current: sprintRunStatus.toApi(run.status),
            allowed: ['queued', 'running'],
          },
        );
      }
      const busy = await trx
        .selectFrom('claude_jobs')
        .select('id')
        .where('sprint_run_id', '=', run.id)
        .where('kind', '=', 'SPRINT_IMPLEMENTATION')
        .where('status', 'in', ['CLAIMED', 'RUNNING'])
        .where('id', '<>', job.id)
        .executeTakeFirst();
      if (busy) {
        throw new AppError('status_conflict', `sprint run ${run.id} is already driven by job ${busy.id}`, {
          sprint_run_id: run.id,
          job_id: busy.id,
        });
      }
    }
  },

  async buildPrompts(_db, jobs) {
    // Each step builds its own prompt from its task; the job itself has none.
    return new Map(jobs.map((job) => [job.id, { system: 'sprint run', user: `Sprint run ${job.sprint_run_id}` }]));
  },

  async execute(context) {
    const runId = context.job.sprint_run_id!;
    const { mode } = await context.db.selectFrom('sprint_runs').select('mode').where('id', '=', runId).executeTakeFirstOrThrow();
    if (mode === 'SPRINT_BATCH') {
      const { db, job, signal, log } = context;
      const batch = {
        db,
        runId,
        executor: context.executor,
        signal,
        log,
        actorTokenId: context.actorTokenId,
        channel: context.channel,
        meter: context.meter,
      };
      const repository = await productRepository(db, job.product_id);
      if (!repository) return runSprintBatch({ ...batch, repository: null });
      const run = { job, repository, branch: runBranch(runId), settings: context.workspaces, signal, log };
      return inWorkspace(run, async (workspace) => {
        const inRepository = { run, workspace, head: workspace.baseSha, salvaged: null };
        const output = await runSprintBatch({ ...batch, repository: inRepository });
        // The run's whole record, from where it started to its last pushed step; a step whose
        // work was salvaged left its commit on HEAD, which is not the run's branch.
        if (inRepository.salvaged !== null) return { ...output, salvage: inRepository.salvaged };
        return { ...output, workspace: await workspace.publish() };
      });
    }
    const dispatched = await context.db
      .transaction()
      .execute((trx) => dispatchReadySteps(trx, runId, { actorTokenId: context.actorTokenId }));
    await context.queueJobs(dispatched);
    return {
      text: `Dispatched ${dispatched.length} step(s) as task jobs.`,
      data: { dispatched: dispatched.map((job) => job.id) },
      usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
      agent: 'dispatcher',
    };
  },

  onStarted: (trx, change, door) => moveRun(trx, change, true, door),
  onFailed: (trx, change, door) => moveRun(trx, change, false, door),
  judge: (_job, output) => ({ status: 'DONE', result: resultOf(output) }),

  async applyDone(trx, finished, context) {
    for (const { job } of finished) {
      // Locked like resume locks it: a resume that came while this job was stopping is seen here.
      const run = await trx
        .selectFrom('sprint_runs')
        .select(['id', 'status', 'mode'])
        .where('id', '=', job.sprint_run_id!)
        .forUpdate()
        .executeTakeFirstOrThrow();
      if (run.status !== 'RUNNING') continue;
      const open = await trx
        .selectFrom('steps')
        .select('id')
        .where('sprint_run_id', '=', run.id)
        .where('status', '<>', 'COMPLETED')
        .limit(1)
        .execute();
      if (open.length === 0) {
        // Every step is complete (or there were none): the run is done.
        await transition(trx, sprintRunMachine, {
          id: run.id,
          from: 'RUNNING',
          to: 'DONE',
          trigger: 'all_tasks_done',
          set: { finished_at: new Date().toISOString() },
          context: { actorTokenId: context.actorTokenId, reason: `every step of sprint run ${run.id} is complete` },
        });
      } else if (run.mode === 'PER_TASK') {
        context.enqueued.push(...(await dispatchReadySteps(trx, run.id, context)));
      } else {
        // The batch stopped at a pause that was resumed before it finished: carry on in a new job.
        const { created } = await insertJobRows(trx, [{ kind: 'SPRINT_IMPLEMENTATION', subjectId: run.id }], context);
        context.enqueued.push(...created);
      }
    }
  },
};

/** The run follows its job: started, the run runs; failed or cancelled by a user, the run stops. */
async function moveRun(trx: Trx, change: AppliedTransition<ClaudeJob>, started: boolean, door: Door): Promise<void> {
  const job = change.row;
  // The run cancelled this job itself when it stopped: nothing more to do to it.
  if (change.hops.at(-1)!.trigger === 'run_stopped') return;
  const run = await trx
    .selectFrom('sprint_runs')
    .select(['id', 'status'])
    .where('id', '=', job.sprint_run_id!)
    .forUpdate()
    .executeTakeFirstOrThrow();
  const now = new Date().toISOString();
  if (started && run.status === 'QUEUED') {
    await door.transition(trx, sprintRunMachine, {
      id: run.id,
      from: 'QUEUED',
      to: 'RUNNING',
      trigger: 'worker_started',
      set: { started_at: now },
      context: inherited(change, describeJobChange(change)),
    });
  } else if (!started && (run.status === 'QUEUED' || run.status === 'RUNNING' || run.status === 'PAUSED')) {
    const cancelled = change.to === 'CANCELLED';
    await door.transition(trx, sprintRunMachine, {
      id: run.id,
      from: run.status,
      to: cancelled ? 'CANCELLED' : 'FAILED',
      trigger: cancelled ? 'user_cancels' : 'job_failed',
      set: { finished_at: now, error: describeJobChange(change) },
      context: inherited(change, describeJobChange(change)),
    });
  }
}
