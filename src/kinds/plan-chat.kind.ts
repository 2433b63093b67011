/**
 * PLAN_CHAT: a conversation about an idea's plan. Enqueueing logs the user's message
 * (CHAT_MESSAGE); the agent answers the conversation so far and its reply is logged (CHAT_REPLY).
 * Because the message is logged when it is sent, a newer chat job that supersedes a queued one
 * loses nothing: its reply answers every message before it.
 */
import { sql } from 'kysely';
import { appendIdeaLogs } from './idea-logs.js';
import { ideaBrief } from './idea-subject.js';
import { ids, type KindHandler, resultOf } from '../jobs/kind-handler.js';

const SYSTEM = [
  'You are the planning partner of a product team. You discuss an idea and its backlog plan with',
  'its author: answer their last message directly and concretely, propose changes to the plan when',
  'they help, and keep answers short.',
].join(' ');

/** How much of the conversation a prompt carries. */
const HISTORY = 40;

export const planChatKind: KindHandler<'PLAN_CHAT'> = {
  kind: 'PLAN_CHAT',

  // The ideas exist: the rows' foreign keys were checked when they were inserted.
  async onEnqueue(trx, jobs) {
    await appendIdeaLogs(
      trx,
      jobs.map((job) => ({
        ideaId: job.idea_id!,
        type: 'CHAT_MESSAGE',
        content: (job.payload as { message: string }).message,
        jobId: job.id,
      })),
    );
  },

  async buildPrompts(db, jobs) {
    // Each idea with the last HISTORY messages of its conversation, oldest first: one query, as
    // this runs inside every claim.
    const ideas = await sql<{ id: string; title: string; prompt_text: string; plan_md: string | null; conversation: string[] }>`
      SELECT i.id, i.title, i.prompt_text, i.plan_md, ARRAY(
        SELECT CASE recent.type WHEN 'CHAT_MESSAGE' THEN 'Author: ' ELSE 'You: ' END || recent.content
        FROM (
          SELECT type, content, created_at FROM idea_logs
          WHERE idea_id = i.id AND type IN ('CHAT_MESSAGE', 'CHAT_REPLY')
          ORDER BY created_at DESC LIMIT ${HISTORY}
        ) AS recent
        ORDER BY recent.created_at
      ) AS conversation
      FROM ideas i WHERE i.id = ANY(${ids(jobs, 'idea_id')}::uuid[])
    `.execute(db);
    const prompts = new Map(
      ideas.rows.map((idea) => {
        const parts = [ideaBrief(idea)];
        if (idea.plan_md) parts.push(`The current plan:\n${idea.plan_md}`);
        parts.push(`The conversation so far:\n${idea.conversation.join('\n\n')}`);
        return [idea.id, { system: SYSTEM, user: parts.join('\n\n') }];
      }),
    );
    return new Map(jobs.map((job) => [job.id, prompts.get(job.idea_id!)!]));
  },

  judge: (_job, output) => ({ status: 'DONE', result: resultOf(output) }),

  async applyDone(trx, finished) {
    await appendIdeaLogs(
      trx,
      finished.map(({ job, output }) => ({
        ideaId: job.idea_id!,
        type: 'CHAT_REPLY',
        content: output.text,
        jobId: job.id,
        data: { agent: output.agent },
      })),
    );
  },
};
