/**
 * Grill and plan jobs share one rule for their idea: a new job moves the idea into its working
 * status (from the status it starts from, or from the failure it retries), and a job may replace
 * one that is still queued, but never one an agent is already working on.
 */
import type { Trx } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { AppError } from '../errors/app-error.js';
import { type IdeaStatus, ideaMachine } from '../machines/index.js';
import { ideaStatus } from '../spelling/api-spelling.js';
import type { HandlerContext } from '../jobs/kind-handler.js';
import { type AppliedTransition, type Door, inherited, transition } from '../transitions/index.js';
import { describeJobChange } from './claude-job.cascade.js';
import { appendIdeaLogs } from './idea-logs.js';

export interface IdeaPhase {
  /** The idea's status while the job is queued or running. */
  working: IdeaStatus;
  /** The statuses a new job may start from, each with the trigger of its edge to `working`. */
  startsFrom: Partial<Record<IdeaStatus, string>>;
  /** How users ask for it, for error messages. */
  action: string;
}

export async function enterIdeaPhase(trx: Trx, jobs: readonly ClaudeJob[], phase: IdeaPhase, context: HandlerContext) {
  for (const job of jobs) {
    const idea = await trx.selectFrom('ideas').select(['id', 'status']).where('id', '=', job.idea_id!).forUpdate().executeTakeFirst();
    if (!idea) throw new AppError('not_found', `idea ${job.idea_id} does not exist`, { idea_id: job.idea_id });

    const trigger = phase.startsFrom[idea.status];
    if (trigger) {
      await transition(trx, ideaMachine, {
        id: idea.id,
        from: idea.status,
        to: phase.working,
        trigger,
        context: { actorTokenId: context.actorTokenId, reason: `${job.kind} job ${job.id} enqueued` },
      });
      continue;
    }
    if (idea.status === phase.working) {
      const busy = await trx
        .selectFrom('claude_jobs')
        .select(['id', 'status'])
        .where('idea_id', '=', idea.id)
        .where('kind', '=', job.kind)
        .where('status', 'in', ['CLAIMED', 'RUNNING'])
        .executeTakeFirst();
      if (!busy) continue; // the new job supersedes the queued one
      throw new AppError(
        'status_conflict',
        `idea ${idea.id} is already ${ideaStatus.toApi(idea.status)}: job ${busy.id} is ${busy.status.toLowerCase()}; wait for it or cancel it`,
        {
          idea_id: idea.id,
          current: ideaStatus.toApi(idea.status),
          job_id: busy.id,
        },
      );
    }
    const allowed = Object.keys(phase.startsFrom).map((s) => ideaStatus.toApi(s as IdeaStatus));
    throw new AppError(
      'status_conflict',
      `idea ${idea.id} is ${ideaStatus.toApi(idea.status)}; ${phase.action} needs it ${allowed.join(' or ')}`,
      {
        idea_id: idea.id,
        current: ideaStatus.toApi(idea.status),
        allowed,
      },
    );
  }
}

/** Ideas by id, for prompt building. */
export async function loadIdeas(db: Pick<Trx, 'selectFrom'>, ids: readonly string[]) {
  if (ids.length === 0) return new Map();
  const rows = await db.selectFrom('ideas').selectAll().where('id', 'in', ids).execute();
  return new Map(rows.map((row) => [row.id, row]));
}

export function ideaBrief(idea: { title: string; prompt_text: string }): string {
  return `Idea: ${idea.title}\n\n${idea.prompt_text}`.trim();
}

const LIVE = ['QUEUED', 'CLAIMED', 'RUNNING'] as const;

/**
 * A grill or plan job failed or was cancelled (and is not retried as a new job): the idea goes to
 * its failure status, with the error in its log, unless another job of the kind still works on it.
 */
export async function failIdea(
  trx: Trx,
  change: AppliedTransition<ClaudeJob>,
  from: 'GRILLING' | 'PLANNING',
  to: 'GRILL_FAILED' | 'PLAN_FAILED',
  door: Door,
): Promise<void> {
  const job = change.row;
  const idea = await trx.selectFrom('ideas').select(['id', 'status']).where('id', '=', job.idea_id!).forUpdate().executeTakeFirstOrThrow();
  if (idea.status !== from) return;
  const others = await trx
    .selectFrom('claude_jobs')
    .select('id')
    .where('idea_id', '=', idea.id)
    .where('kind', '=', job.kind)
    .where('status', 'in', LIVE)
    .where('id', '<>', job.id)
    .limit(1)
    .execute();
  if (others.length > 0) return;

  // A plan that did not parse is kept on the idea with its errors, for the author and the retry.
  const rejected = planRejection(job);
  await door.transition(trx, ideaMachine, {
    id: idea.id,
    from,
    to,
    trigger: rejected ? 'plan_rejected' : 'job_failed',
    ...(rejected ? { set: { plan_md: rejected.planMd, plan_errors: rejected.errors } } : {}),
    context: {
      ...inherited(change, rejected ? 'the plan did not parse' : describeJobChange(change)),
      artifacts: { job_id: job.id, error: job.error ?? null },
    },
  });
  await appendIdeaLogs(trx, [
    {
      ideaId: idea.id,
      type: 'JOB_EVENT',
      content: rejected ? `the plan did not parse:\n${rejected.errors.join('\n')}` : describeJobChange(change),
      data: { job_id: job.id, status: change.to, error: job.error ?? null },
      jobId: job.id,
    },
  ]);
}

function planRejection(job: ClaudeJob): { planMd: string | null; errors: string[] } | null {
  const error = job.error as { code?: string; details?: { errors?: string[] } } | null;
  if (job.kind !== 'IDEA_MAKE_PLAN' || error?.code !== 'plan_invalid') return null;
  const result = job.result as { text?: string } | null;
  return { planMd: result?.text ?? null, errors: error.details?.errors ?? [] };
}
