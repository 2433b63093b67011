/**
 * Job notices: what an agent says from inside its job (`progress`) and the life of its questions
 * to a person (`question_asked`, `question_answered`, `question_closed`). They travel on the fleet
 * events' Redis channel, so SSE, the WebSocket and the fleet page get them with the same filters
 * and audience as the job's status changes (entity `job`, scoped to the product's owner; worker
 * tokens hear them as they hear every job event).
 *
 * Unlike status changes they are no history rows: they carry no id, nothing replays them after a
 * reconnect, and what they report is kept elsewhere (the job's `progress`, the question's row).
 * A notice is published once, by whoever made the change, after it committed.
 */
import { publishOn } from '../queues/fleet-channels.js';
import type { RedisClient } from '../queues/redis-connections.js';
import { sql } from 'kysely';
import type { Executor } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { AppError } from '../errors/app-error.js';
import { type QuestionView, questionView } from '../jobs/job-questions.js';
import { claudeJobStatus, jobKind } from '../spelling/api-spelling.js';
import { eventsChannel } from './events-channel.js';
import type { FleetEvent, NoticeType, OwnedEvent } from './fleet-event.js';

/** What a notice needs of its job: the row's ids and status, and its product's owner. */
export type NoticeJob = Pick<ClaudeJob, 'id' | 'kind' | 'status' | 'product_id' | 'idea_id' | 'task_id' | 'sprint_run_id'> & {
  owner_id: string;
};

export type QuestionNoticeType = Extract<NoticeType, `question_${string}`>;

/** The job with its product's owner, for building its notices. */
export async function noticeJob(db: Executor, jobId: string): Promise<NoticeJob> {
  const job = await db
    .selectFrom('claude_jobs as j')
    .innerJoin('products as p', 'p.id', 'j.product_id')
    .select(['j.id', 'j.kind', 'j.status', 'j.product_id', 'j.idea_id', 'j.task_id', 'j.sprint_run_id', 'p.owner_id'])
    .where('j.id', '=', jobId)
    .executeTakeFirst();
  if (!job) throw new AppError('not_found', `job ${jobId} does not exist`, { id: jobId });
  return job;
}

/** A notice of `type` about `job`, with what that type carries. */
export function jobNotice(
  type: NoticeType,
  job: NoticeJob,
  extra: Pick<FleetEvent, 'progress' | 'question' | 'budget'>,
  actorTokenId: string | null,
): OwnedEvent {
  const status = claudeJobStatus.toApi(job.status);
  const event: FleetEvent = {
    id: null,
    type,
    entity: 'job',
    entity_id: job.id,
    // No status changed: `to` is the job's status when it happened, for clients that show one.
    from: null,
    to: status,
    trigger: type,
    reason: null,
    actor_token_id: actorTokenId,
    at: new Date().toISOString(),
    product_id: job.product_id,
    job: { id: job.id, kind: jobKind.toApi(job.kind), idea_id: job.idea_id, task_id: job.task_id, sprint_run_id: job.sprint_run_id },
    step: null,
    sprint_run_id: job.sprint_run_id,
    idea_id: job.idea_id,
    ...extra,
  };
  return { event, ownerId: job.owner_id } satisfies OwnedEvent;
}

/** The agent's `report_progress`. */
export function progressEvent(job: NoticeJob, progress: { message: string; percent?: number | null | undefined }): OwnedEvent {
  return jobNotice('progress', job, { progress: { message: progress.message, percent: progress.percent ?? null } }, null);
}

/** A question asked, answered (the actor is the token that answered) or closed with its job. */
export function questionEvent(type: QuestionNoticeType, job: NoticeJob, question: QuestionView): OwnedEvent {
  return jobNotice(type, job, { question }, type === 'question_answered' ? question.answered_by_token_id : null);
}

const ENDED = new Set(['done', 'failed', 'cancelled', 'skipped']);

/**
 * question_closed notices for the questions closed by the ends of these jobs (the door's job
 * cascade closes them in the same commit as the end): the relay sends them with the end itself,
 * whatever ended the job (its agent, a cancel, the sweeper, a shutdown).
 */
export async function closedQuestionNotices(db: Executor, events: readonly OwnedEvent[]): Promise<OwnedEvent[]> {
  const ended = events.filter(({ event }) => event.entity === 'job' && ENDED.has(event.to)).map(({ event }) => event.entity_id);
  if (ended.length === 0) return [];
  const closed = await db
    .selectFrom('job_questions')
    .selectAll()
    .where('job_id', 'in', ended)
    .where('status', '=', 'CLOSED')
    .where('closed_at', '>', sql<Date>`now() - interval '10 minutes'`)
    .orderBy('created_at')
    .execute();
  const notices: OwnedEvent[] = [];
  const jobs = new Map<string, NoticeJob>();
  for (const question of closed) {
    if (!jobs.has(question.job_id)) jobs.set(question.job_id, await noticeJob(db, question.job_id));
    notices.push(questionEvent('question_closed', jobs.get(question.job_id)!, questionView(question)));
  }
  return notices;
}

/**
 * Publishes notices to every API process. Rejects when Redis does: a caller whose change already
 * committed logs that and carries on, as a notice is only a live view of what is stored.
 */
export async function publishJobNotices(redis: RedisClient, prefix: string, notices: OwnedEvent[]): Promise<void> {
  if (notices.length === 0) return;
  await publishOn(redis, eventsChannel(prefix), JSON.stringify(notices));
}
