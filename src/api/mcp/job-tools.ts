/**
 * The in-job tools (SPEC "Agents talk back"): what an agent may do from inside its running job.
 * A job token acts on its own job; a worker token (pull mode) names a job it claimed, by job_id.
 * Every call checks the job is still held (src/jobs/job-holder.ts), so a token outlives nothing.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { parsePlanMd } from '../../backlog/plan-format.js';
import type { Trx } from '../../db/database.js';
import type { ClaudeJob } from '../../db/tables/claude-job.table.js';
import { AppError } from '../../errors/app-error.js';
import { recordUsage, saveDocument, saveProgress } from '../../jobs/agent-reports.js';
import { heldJob } from '../../jobs/job-holder.js';
import { askQuestion, getQuestion, questionView } from '../../jobs/job-questions.js';
import { publishJobNotices, progressEvent, questionEvent } from '../../events/job-notices.js';
import { bullJobId } from '../../queues/job-queues.js';
import { pulse } from '../../jobs/pull-jobs.js';
import type { JobKind } from '../../queues/kinds.js';
import { jobKind } from '../../spelling/api-spelling.js';
import type { McpContext } from './mcp-context.js';
import { answerWith } from './tool-answer.js';
import { jobContext, visibleJob } from './job-context.js';
import { updateTaskStatus } from './task-status.js';
import { waitUntil } from './wait-until.js';

/** How long ask_user waits at most (SPEC: wait_seconds <= 600). */
export const MAX_WAIT_SECONDS = 600;
const LOOK_EVERY_MS = 1_000;

const text = (max: number) => z.string().trim().min(1).max(max);
/** Markdown is kept as written, whitespace and all; it must not be blank. */
const markdownArg = z
  .string()
  .max(200_000)
  .refine((value) => value.trim().length > 0, { error: 'must not be blank' });

/** `job_id`: left out by a job token (its job is implied); a pull-mode session names the job it claimed. */
function jobIdArg(context: McpContext) {
  if (context.principal.job) return { job_id: z.uuid().optional().describe('Your own job; may be left out') };
  // Required in the schema the session sees; typed as optional so that one handler serves both.
  return { job_id: z.uuid().describe('The job you claimed with wait_for_job') as unknown as z.ZodOptional<z.ZodUUID> };
}

export function registerJobTools(server: McpServer, context: McpContext): void {
  const { deps } = context;
  const { db, logger } = deps;
  const held = (jobId: string | undefined) => heldJob(db, context.principal, { jobId, leaseMs: deps.config.LEASE_MS });
  /**
   * A write on the job's behalf, in one transaction with the job's row locked and checked as held:
   * checked first and written after, a write could land on a job that ended in between.
   */
  const whileHeld = <T>(jobId: string | undefined, work: (trx: Trx, job: ClaudeJob) => Promise<T>) =>
    db
      .transaction()
      .execute(async (trx) => work(trx, await heldJob(trx, context.principal, { jobId, lock: true, leaseMs: deps.config.LEASE_MS })));
  const notify = async (job: ClaudeJob, notices: Parameters<typeof publishJobNotices>[2]) => {
    await publishJobNotices(deps.redis, deps.config.BULLMQ_PREFIX, notices).catch((error: Error) =>
      logger.warn({ err: error.message, job: job.id }, 'could not publish a live notice'),
    );
  };
  const ownerOf = async (job: ClaudeJob) =>
    (await db.selectFrom('products').select('owner_id').where('id', '=', job.product_id).executeTakeFirstOrThrow()).owner_id;
  const kindOnly = (kind: JobKind) => context.tokenJob === null || context.tokenJob.kind === kind;

  server.registerTool(
    'get_job',
    {
      description: 'Your job: its status and payload, its subject (the idea, task or sprint run) and the prompt it was built from.',
      inputSchema: jobIdArg(context),
    },
    ({ job_id }) =>
      answerWith(logger, 'get_job', async () => {
        // Reading needs no claim: a pull-mode session may look at any job its token can see.
        if (context.principal.job) return jobContext(db, await held(job_id));
        return jobContext(db, await visibleJob(db, context.principal, job_id));
      }),
  );

  server.registerTool(
    'report_progress',
    {
      description: 'Tell the people watching how far you are: a line in the job log and a live event on the fleet page.',
      inputSchema: { message: text(2000), percent: z.number().min(0).max(100).optional(), ...jobIdArg(context) },
    },
    ({ message, percent, job_id }) =>
      answerWith(logger, 'report_progress', async () => {
        const { job, progress } = await whileHeld(job_id, async (trx, job) => ({
          job,
          progress: await saveProgress(trx, job.id, { message, percent }),
        }));
        const line = `progress: ${progress.percent === null ? '' : `${progress.percent}% `}${message}`;
        await deps.queues
          .queue(job.kind)
          .addJobLog(bullJobId(job), line)
          .catch(() => undefined); // the log is a courtesy; the progress is on the job's row
        await notify(job, [progressEvent({ ...job, owner_id: await ownerOf(job) }, { message, percent: progress.percent })]);
        return { ok: true, progress };
      }),
  );

  server.registerTool(
    'update_task_status',
    {
      description:
        'Move a task of your job (its own task, or a task of its sprint run) to another status, as a person could: todo, in_progress, review, done or failed.',
      inputSchema: {
        task_id: z.uuid(),
        status: z.enum(['todo', 'in_progress', 'review', 'done', 'failed']),
        reason: text(2000).optional(),
        ...jobIdArg(context),
      },
    },
    ({ task_id, status, reason, job_id }) =>
      answerWith(logger, 'update_task_status', async () => {
        return { task: await whileHeld(job_id, (trx, job) => updateTaskStatus(trx, job, { taskId: task_id, status, reason })) };
      }),
  );

  server.registerTool(
    'ask_user',
    {
      description: `Ask a person a question and wait for the answer (up to wait_seconds, at most ${MAX_WAIT_SECONDS}). Answers come from the fleet page or POST /api/v1/jobs/{id}/questions/{question_id}/answer. If nobody answers in time the question stays open: ask again later or go on with your best assumption.`,
      inputSchema: {
        question: text(4000),
        options: z.array(text(500)).min(1).max(20).optional().describe('Choices to offer; the answer is one of them'),
        wait_seconds: z.number().int().min(0).max(MAX_WAIT_SECONDS).optional().describe('Default 300'),
        ...jobIdArg(context),
      },
    },
    ({ question, options, wait_seconds, job_id }, extra) =>
      answerWith(logger, 'ask_user', async () => {
        // Marked under the row's lock: a job ending at the same moment either sees the mark (and
        // closes the question) or has ended first, and the question is not asked.
        const { job, asked } = await whileHeld(job_id, async (trx, job) => {
          await trx.updateTable('claude_jobs').set({ has_questions: true }).where('id', '=', job.id).execute();
          return { job, asked: await askQuestion(trx, { jobId: job.id, productId: job.product_id, question, options: options ?? null }) };
        });
        const noticed = { ...job, owner_id: await ownerOf(job) };
        await notify(job, [questionEvent('question_asked', noticed, questionView(asked))]);
        const waitMs = (wait_seconds ?? 300) * 1000;
        const progressToken = extra._meta?.progressToken;
        let ticks = 0;
        const settled = await waitUntil({
          deadline: Date.now() + waitMs,
          signal: AbortSignal.any([context.signal, extra.signal]),
          everyMs: LOOK_EVERY_MS,
          check: async () => {
            const row = await getQuestion(db, asked.id);
            return row && row.status !== 'OPEN' ? row : undefined;
          },
          onWake: (wake) =>
            deps.events.subscribe((events) => {
              if (events.some(({ event }) => (event as { question?: { id?: string } }).question?.id === asked.id)) wake();
            }),
          // Often enough for a pull-mode lease (a third of it), and for clients counting on progress.
          tickMs: Math.min(10_000, deps.config.PULL_LEASE_MS / 3),
          tick: async () => {
            ticks += 1;
            // A pull-mode session's lease would lapse while it waits here: it is renewed for it.
            if (!context.principal.job)
              await pulse(db, { jobId: job.id, epoch: job.claim_epoch, tokenId: context.principal.tokenId }, deps.config.PULL_LEASE_MS);
            if (progressToken !== undefined) {
              await extra
                .sendNotification({
                  method: 'notifications/progress',
                  params: { progressToken, progress: ticks, message: 'waiting for an answer' },
                })
                .catch(() => undefined);
            }
          },
        });
        if (!settled) {
          return {
            question_id: asked.id,
            status: 'open',
            answer: null,
            note: `nobody answered within ${waitMs / 1000} s; the question stays open`,
          };
        }
        return { question_id: asked.id, status: settled.status === 'ANSWERED' ? 'answered' : 'closed', answer: settled.answer };
      }),
  );

  server.registerTool(
    'record_usage',
    {
      description: 'Add tokens and cost you spent to your job, once per id (the same id again adds nothing).',
      inputSchema: {
        id: text(200),
        input_tokens: z.number().int().min(0).max(1_000_000_000),
        output_tokens: z.number().int().min(0).max(1_000_000_000),
        cost_usd: z.number().min(0).max(1_000_000),
        ...jobIdArg(context),
      },
    },
    ({ id, input_tokens, output_tokens, cost_usd, job_id }) =>
      answerWith(logger, 'record_usage', async () => {
        return whileHeld(job_id, (trx, job) => recordUsage(trx, job.id, { id, input_tokens, output_tokens, cost_usd }));
      }),
  );

  /**
   * The grill and plan writers: the document is kept on the job, and the idea takes it through
   * the door when the job is done (the kind's applyDone), with its history and log; a job that
   * fails leaves the idea as it was.
   */
  const documentTool = (name: string, kind: JobKind, description: string, refuse: (markdown: string) => AppError | null) => {
    if (!kindOnly(kind)) return;
    server.registerTool(name, { description, inputSchema: { markdown: markdownArg, ...jobIdArg(context) } }, ({ markdown, job_id }) =>
      answerWith(logger, name, async () => {
        const job = await whileHeld(job_id, async (trx, held) => {
          const job = ofKind(held, kind);
          const refusal = refuse(markdown);
          if (refusal) throw refusal;
          await saveDocument(trx, job.id, markdown);
          return job;
        });
        return { ok: true, idea_id: job.idea_id };
      }),
    );
  };

  documentTool(
    'update_idea_grill_md',
    'IDEA_GRILL',
    "Write the idea's grill (markdown). It is your job's answer: the idea takes it when the job finishes, whatever you print last. Call it again to replace it.",
    () => null,
  );
  documentTool(
    'update_idea_plan_md',
    'IDEA_MAKE_PLAN',
    "Write the idea's plan (markdown with YAML frontmatter, as the job's prompt describes). A plan that does not parse is refused with its errors and nothing is written. It is your job's answer: the idea takes it when the job finishes.",
    (markdown) => {
      const parsed = parsePlanMd(markdown);
      if (parsed.ok) return null;
      return new AppError('plan_invalid', `the plan did not parse (${parsed.errors.length} errors): ${parsed.errors.join('; ')}`, {
        errors: parsed.errors,
      });
    },
  );
}

function ofKind(job: ClaudeJob, kind: JobKind): ClaudeJob {
  if (job.kind !== kind) {
    const [is, wanted] = [jobKind.toApi(job.kind), jobKind.toApi(kind)];
    throw new AppError('validation_failed', `job ${job.id} is a ${is} job; this tool is for ${wanted} jobs`, { id: job.id });
  }
  return job;
}
