/**
 * A user cancels a job: QUEUED, CLAIMED or RUNNING -> CANCELLED through the door (the cascade
 * fails a grill or plan idea, or ends a sprint run), then, after commit, the queue entry goes and
 * the worker running it is told to abort its agent.
 */
import type { Db } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { AppError } from '../errors/app-error.js';
import { claudeJobMachine } from '../machines/index.js';
import type { CancelPublisher } from '../queues/job-signals.js';
import type { JobQueues } from '../queues/job-queues.js';
import { claudeJobStatus } from '../spelling/api-spelling.js';
import { transition } from '../transitions/index.js';

export interface CancelDeps {
  db: Db;
  queues: JobQueues;
  signals: CancelPublisher;
}

export async function cancelJob(
  deps: CancelDeps,
  id: string,
  context: { actorTokenId: string | null; reason?: string | null },
): Promise<ClaudeJob> {
  const { before, after } = await deps.db.transaction().execute(async (trx) => {
    const before = await trx.selectFrom('claude_jobs').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
    if (!before) throw new AppError('not_found', `job ${id} does not exist`, { id });
    if (!claudeJobMachine.canTransition(before.status, 'CANCELLED', 'user')) {
      const allowed = claudeJobMachine.allowedFrom(before.status, 'user').map((s) => claudeJobStatus.toApi(s));
      throw new AppError('invalid_transition', `job ${id} is ${claudeJobStatus.toApi(before.status)} and cannot be cancelled`, {
        current: claudeJobStatus.toApi(before.status),
        allowed,
      });
    }
    const reason = context.reason ?? 'cancelled by a user';
    const { row } = await transition(trx, claudeJobMachine, {
      id,
      from: before.status,
      to: 'CANCELLED',
      trigger: 'user_cancels',
      by: 'user',
      set: { finished_at: new Date().toISOString(), lease_expires_at: null, error: { code: 'cancelled', message: reason } },
      context: { actorTokenId: context.actorTokenId, reason },
    });
    return { before, after: row };
  });

  if (before.status === 'QUEUED') await deps.queues.remove([before]).catch(() => undefined);
  else await deps.signals.publishCancel([id]);
  return after;
}
