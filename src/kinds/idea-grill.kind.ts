/**
 * IDEA_GRILL: an agent questions an idea before it is planned. Enqueueing moves the idea to
 * GRILLING; the agent's questions become the idea's grill_md and a GRILL_RESULT log entry, and
 * the idea is GRILLED. A failure is handled by its onFailed (GRILL_FAILED).
 */
import { ideaMachine } from '../machines/index.js';
import { transition } from '../transitions/index.js';
import { appendIdeaLogs, type IdeaLogEntry } from './idea-logs.js';
import { enterIdeaPhase, failIdea, ideaBrief, loadIdeas } from './idea-subject.js';
import { ids, type KindHandler, resultOf } from '../jobs/kind-handler.js';
import { answerWithDocument } from './agent-document.js';

const SYSTEM = [
  'You are a senior product engineer. Before an idea is planned into backlog items, you grill it:',
  'ask the sharpest questions about users, scope, risks, constraints and how success is measured,',
  'and note the assumptions you would make if nobody answered. Answer in markdown: a short summary,',
  'then numbered questions, each with the assumption you would make.',
].join(' ');

export const ideaGrillKind: KindHandler<'IDEA_GRILL'> = {
  kind: 'IDEA_GRILL',

  onEnqueue: (trx, jobs, context) =>
    enterIdeaPhase(
      trx,
      jobs,
      { working: 'GRILLING', startsFrom: { DRAFT: 'grill_enqueued', GRILL_FAILED: 'grill_retried' }, action: 'grilling' },
      context,
    ),

  onFailed: (trx, change, door) => failIdea(trx, change, 'GRILLING', 'GRILL_FAILED', door),
  async buildPrompts(db, jobs) {
    const ideas = await loadIdeas(db, ids(jobs, 'idea_id'));
    return new Map(
      jobs.map((job) => {
        const idea = ideas.get(job.idea_id!)!;
        const answers = (job.payload as { answers?: string }).answers;
        const parts = [ideaBrief(idea)];
        if (idea.grill_md) parts.push(`Earlier grill:\n${idea.grill_md}`);
        if (answers) parts.push(`The author's answers:\n${answers}`);
        return [job.id, { system: SYSTEM, user: parts.join('\n\n') }];
      }),
    );
  },

  execute: answerWithDocument,

  judge: (_job, output) => ({ status: 'DONE', result: resultOf(output) }),

  async applyDone(trx, finished, context) {
    const logs: IdeaLogEntry[] = [];
    for (const { job, output } of finished) {
      const idea = await trx
        .selectFrom('ideas')
        .select(['id', 'status'])
        .where('id', '=', job.idea_id!)
        .forUpdate()
        .executeTakeFirstOrThrow();
      // A newer grill may have finished first; this result then only goes into the log.
      if (idea.status === 'GRILLING') {
        await transition(trx, ideaMachine, {
          id: idea.id,
          from: 'GRILLING',
          to: 'GRILLED',
          set: { grill_md: output.text },
          context: { actorTokenId: context.actorTokenId, reason: `IDEA_GRILL job ${job.id} finished`, artifacts: { job_id: job.id } },
        });
      }
      logs.push({ ideaId: idea.id, type: 'GRILL_RESULT', content: output.text, jobId: job.id, data: { agent: output.agent } });
    }
    await appendIdeaLogs(trx, logs);
  },
};
