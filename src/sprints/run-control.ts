/**
 * A user steering a running sprint run:
 * - pause: RUNNING -> PAUSED. No new step starts; steps already running finish.
 * - resume: PAUSED -> RUNNING, and a new SPRINT_IMPLEMENTATION job continues where the run stopped
 *   (a batch runs the remaining steps; a per-task run dispatches the ready ones).
 * - cancel: -> CANCELLED with a reason. The run's cascade cancels its jobs and skips its
 *   unfinished steps; after commit the queued jobs leave their queues and the workers running the
 *   others are told to abort their agents.
 */
import { retryOnDeadlock } from '../db/retry-deadlock.js';
import type { Db } from '../db/database.js';
import type { SprintRun } from '../db/tables/sprint-run.table.js';
import { AppError } from '../errors/app-error.js';
import { addToQueues, insertJobs } from '../jobs/enqueue-jobs.js';
import type { Logger } from '../logger.js';
import { sprintRunMachine, type SprintRunStatus } from '../machines/index.js';
import type { CancelPublisher } from '../queues/job-signals.js';
import type { JobQueues } from '../queues/job-queues.js';
import { sprintRunStatus } from '../spelling/api-spelling.js';
import { transition } from '../transitions/index.js';

export interface RunControlDeps {
  db: Db;
  queues: JobQueues;
  signals: CancelPublisher;
  logger: Logger;
}

export type RunCommand = 'pause' | 'resume' | 'cancel';

const TARGET: Record<RunCommand, SprintRunStatus> = { pause: 'PAUSED', resume: 'RUNNING', cancel: 'CANCELLED' };

export function commandFor(to: SprintRunStatus): RunCommand | null {
  return (Object.entries(TARGET).find(([, status]) => status === to)?.[0] as RunCommand | undefined) ?? null;
}

export async function controlRun(
  deps: RunControlDeps,
  runId: string,
  command: RunCommand,
  context: { actorTokenId: string | null; reason: string | null },
): Promise<SprintRun> {
  const to = TARGET[command];
  const outcome = await retryOnDeadlock(() =>
    deps.db.transaction().execute(async (trx) => {
      // What a cancel will stop, read before the cascade cancels it. Locked before the run: a worker
      // starting or finishing one of these jobs locks the job first and then, through its cascades,
      // the run; taking them in the other order here deadlocked a cancel racing a claim.
      const live = await trx
        .selectFrom('claude_jobs')
        .select(['id', 'kind', 'status', 'requeue_count'])
        .where('sprint_run_id', '=', runId)
        .where('status', 'in', ['QUEUED', 'CLAIMED', 'RUNNING'])
        .orderBy('id')
        .forUpdate()
        .execute();
      const run = await trx.selectFrom('sprint_runs').selectAll().where('id', '=', runId).forUpdate().executeTakeFirstOrThrow();
      if (!sprintRunMachine.canTransition(run.status, to, 'user')) {
        const allowed = sprintRunMachine.allowedFrom(run.status, 'user').map((status) => sprintRunStatus.toApi(status));
        throw new AppError('invalid_transition', `sprint run ${runId} is ${sprintRunStatus.toApi(run.status)} and cannot ${command}`, {
          current: sprintRunStatus.toApi(run.status),
          allowed,
        });
      }
      const reason = context.reason ?? `${command} requested by a user`;
      const { row } = await transition(trx, sprintRunMachine, {
        id: runId,
        from: run.status,
        to,
        by: 'user',
        ...(command === 'cancel' ? { set: { error: reason, finished_at: new Date().toISOString() } } : {}),
        context: { actorTokenId: context.actorTokenId, reason },
      });
      // Resume needs a driver unless a sprint job is still finishing: that one carries on by itself
      // (it reads the run again before each step, and on finishing it continues a resumed run).
      const driving = live.some((job) => job.kind === 'SPRINT_IMPLEMENTATION' && job.status !== 'QUEUED');
      const continued =
        command === 'resume' && !driving ? await insertJobs(trx, [{ kind: 'SPRINT_IMPLEMENTATION', subjectId: runId }], context) : null;
      return {
        run: row,
        live: command === 'cancel' ? live : [],
        continued: (continued?.created ?? []).filter((job) => job.status === 'QUEUED'),
      };
    }),
  );

  await addToQueues(deps, outcome.continued);
  await deps.queues.remove(outcome.live.filter((job) => job.status === 'QUEUED')).catch(() => undefined);
  await deps.signals.publishCancel(outcome.live.filter((job) => job.status !== 'QUEUED').map((job) => job.id));
  return outcome.run;
}
