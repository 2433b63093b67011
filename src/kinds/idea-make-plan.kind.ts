/**
 * IDEA_MAKE_PLAN: an agent turns a grilled idea into a plan (see src/backlog/plan-format.ts). A plan
 * that parses moves the idea to PLAN_READY with plan_md and a PLAN_RESULT log entry. One that
 * does not fails the job with code `plan_invalid`; its onFailed then moves the idea to
 * PLAN_FAILED, keeping the plan and its parse errors on the idea and in its log.
 */
import { ideaMachine } from '../machines/index.js';
import { transition } from '../transitions/index.js';
import { appendIdeaLogs, type IdeaLogEntry } from './idea-logs.js';
import { enterIdeaPhase, failIdea, ideaBrief, loadIdeas } from './idea-subject.js';
import { ids, type KindHandler, resultOf } from '../jobs/kind-handler.js';
import { answerWithDocument } from './agent-document.js';
import { PLAN_FORMAT_GUIDE } from './plan/plan-guide.js';
import { parsePlanMd } from '../backlog/plan-format.js';

const SYSTEM = `You turn a product idea into a backlog plan for coding agents. ${PLAN_FORMAT_GUIDE}`;

export const ideaMakePlanKind: KindHandler<'IDEA_MAKE_PLAN'> = {
  kind: 'IDEA_MAKE_PLAN',

  onEnqueue: (trx, jobs, context) =>
    enterIdeaPhase(
      trx,
      jobs,
      { working: 'PLANNING', startsFrom: { GRILLED: 'plan_enqueued', PLAN_FAILED: 'plan_retried' }, action: 'planning' },
      context,
    ),

  onFailed: (trx, change, door) => failIdea(trx, change, 'PLANNING', 'PLAN_FAILED', door),
  async buildPrompts(db, jobs) {
    const ideas = await loadIdeas(db, ids(jobs, 'idea_id'));
    return new Map(
      jobs.map((job) => {
        const idea = ideas.get(job.idea_id!)!;
        const guidance = (job.payload as { guidance?: string }).guidance;
        const parts = [ideaBrief(idea)];
        if (idea.grill_md) parts.push(`The grill of this idea:\n${idea.grill_md}`);
        if (idea.plan_errors) parts.push(`The previous plan did not parse:\n${(idea.plan_errors as string[]).join('\n')}`);
        if (guidance) parts.push(`Guidance from the author:\n${guidance}`);
        return [job.id, { system: SYSTEM, user: parts.join('\n\n') }];
      }),
    );
  },

  execute: answerWithDocument,

  judge(_job, output) {
    const parsed = parsePlanMd(output.text);
    if (parsed.ok) return { status: 'DONE', result: resultOf(output) };
    return {
      status: 'FAILED',
      error: {
        code: 'plan_invalid',
        message: `the plan did not parse (${parsed.errors.length} errors)`,
        details: { errors: parsed.errors },
      },
      result: resultOf(output),
    };
  },

  async applyDone(trx, finished, context) {
    const logs: IdeaLogEntry[] = [];
    for (const { job, output } of finished) {
      const idea = await trx
        .selectFrom('ideas')
        .select(['id', 'status'])
        .where('id', '=', job.idea_id!)
        .forUpdate()
        .executeTakeFirstOrThrow();
      if (idea.status === 'PLANNING') {
        await transition(trx, ideaMachine, {
          id: idea.id,
          from: 'PLANNING',
          to: 'PLAN_READY',
          set: { plan_md: output.text, plan_errors: null },
          context: {
            actorTokenId: context.actorTokenId,
            reason: `IDEA_MAKE_PLAN job ${job.id} wrote a plan that parses`,
            artifacts: { job_id: job.id },
          },
        });
      }
      logs.push({ ideaId: idea.id, type: 'PLAN_RESULT', content: output.text, jobId: job.id, data: { agent: output.agent } });
    }
    await appendIdeaLogs(trx, logs);
  },
};
