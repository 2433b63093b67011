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
import { transition } from '../transitions/index.js';
import type { HandlerContext } from './kind-handler.js';

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
      throw new AppError('status_conflict', `idea ${idea.id} is already ${ideaStatus.toApi(idea.status)}: job ${busy.id} is ${busy.status.toLowerCase()}; wait for it or cancel it`, {
        idea_id: idea.id,
        current: ideaStatus.toApi(idea.status),
        job_id: busy.id,
      });
    }
    const allowed = Object.keys(phase.startsFrom).map((s) => ideaStatus.toApi(s as IdeaStatus));
    throw new AppError('status_conflict', `idea ${idea.id} is ${ideaStatus.toApi(idea.status)}; ${phase.action} needs it ${allowed.join(' or ')}`, {
      idea_id: idea.id,
      current: ideaStatus.toApi(idea.status),
      allowed,
    });
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
