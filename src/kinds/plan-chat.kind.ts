/**
 * PLAN_CHAT: a conversation about an idea's plan. Enqueueing logs the user's message
 * (CHAT_MESSAGE); the agent answers the conversation so far and its reply is logged (CHAT_REPLY).
 * Because the message is logged when it is sent, a newer chat job that supersedes a queued one
 * loses nothing: its reply answers every message before it.
 */
import { sql } from 'kysely';
import { AppError } from '../errors/app-error.js';
import { ideaBrief, loadIdeas } from './idea-subject.js';
import { ids, type KindHandler, resultOf } from './kind-handler.js';

const SYSTEM = [
  'You are the planning partner of a product team. You discuss an idea and its backlog plan with',
  'its author: answer their last message directly and concretely, propose changes to the plan when',
  'they help, and keep answers short.',
].join(' ');

/** How much of the conversation a prompt carries. */
const HISTORY = 40;

export const planChatKind: KindHandler<'PLAN_CHAT'> = {
  kind: 'PLAN_CHAT',

  async onEnqueue(trx, jobs) {
    const ideas = await trx.selectFrom('ideas').select(['id', 'status']).where('id', 'in', ids(jobs, 'idea_id')).execute();
    const found = new Set(ideas.map((idea) => idea.id));
    const missing = jobs.find((job) => !found.has(job.idea_id!));
    if (missing) throw new AppError('not_found', `idea ${missing.idea_id} does not exist`, { idea_id: missing.idea_id });
    await trx
      .insertInto('idea_logs')
      .values(
        jobs.map((job) => ({
          idea_id: job.idea_id!,
          type: 'CHAT_MESSAGE' as const,
          content: (job.payload as { message: string }).message,
          job_id: job.id,
        })),
      )
      .execute();
  },

  async buildPrompts(db, jobs) {
    const ideaIds = ids(jobs, 'idea_id');
    const ideas = await loadIdeas(db, ideaIds);
    // The last HISTORY messages of each idea, oldest first.
    const logs = await db
      .selectFrom((eb) =>
        eb
          .selectFrom('idea_logs')
          .select(['idea_id', 'type', 'content', 'created_at'])
          .select(sql<number>`row_number() OVER (PARTITION BY idea_id ORDER BY created_at DESC)`.as('recency'))
          .where('idea_id', 'in', ideaIds)
          .where('type', 'in', ['CHAT_MESSAGE', 'CHAT_REPLY'])
          .as('recent'),
      )
      .selectAll()
      .where('recency', '<=', HISTORY)
      .orderBy('created_at')
      .execute();
    return new Map(
      jobs.map((job) => {
        const idea = ideas.get(job.idea_id!)!;
        const conversation = logs
          .filter((log) => log.idea_id === idea.id)
          .map((log) => `${log.type === 'CHAT_MESSAGE' ? 'Author' : 'You'}: ${log.content}`);
        const parts = [ideaBrief(idea)];
        if (idea.plan_md) parts.push(`The current plan:\n${idea.plan_md}`);
        parts.push(`The conversation so far:\n${conversation.join('\n\n')}`);
        return [job.id, { system: SYSTEM, user: parts.join('\n\n') }];
      }),
    );
  },

  judge: (_job, output) => ({ status: 'DONE', result: resultOf(output) }),

  async applyDone(trx, finished) {
    if (finished.length === 0) return;
    await trx
      .insertInto('idea_logs')
      .values(
        finished.map(({ job, output }) => ({
          idea_id: job.idea_id!,
          type: 'CHAT_REPLY' as const,
          content: output.text,
          job_id: job.id,
          data: JSON.stringify({ agent: output.agent }),
        })),
      )
      .execute();
  },
};
