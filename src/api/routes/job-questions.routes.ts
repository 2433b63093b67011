/**
 * The human side of `ask_user`: a person lists the questions agents asked (one job's, or every
 * open one of the owner's jobs) and answers one. An answer is accepted once: the second gets 409
 * question_closed, as does an answer to a question whose job ended. Each accepted answer is
 * published as a `question_answered` notice, which is also what wakes the waiting agent.
 */
import { z } from '@hono/zod-openapi';
import { callerOf } from '../../auth/caller.js';
import { visibleOwnership } from '../../backlog/ownership.js';
import { coerceError } from '../../errors/app-error.js';
import { noticeJob, publishJobNotices, questionEvent } from '../../events/job-notices.js';
import { answerQuestion, listQuestions, questionsOf, questionView } from '../../jobs/job-questions.js';
import type { ApiDeps } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { createRouter } from '../router.js';
import { errorResponses, IdParam, json, nextCursor, pageAfter } from '../schemas/common.schemas.js';
import {
  AnswerBody,
  JobQuestions,
  Question,
  QuestionList,
  QuestionParams,
  QuestionQuery,
  toApiListedQuestion,
} from '../schemas/question.schemas.js';

const tags = ['questions'];

export function jobQuestionRoutes(deps: ApiDeps) {
  const app = createRouter();

  app.openapi(
    authedRoute(['read', 'worker'], {
      method: 'get',
      path: '/questions',
      tags,
      summary: "Questions agents asked, newest first, across the owner's jobs (admins: everyone's)",
      description: 'Filter with ?status=open for those waiting for an answer. Each names its job and the job kind.',
      request: { query: QuestionQuery },
      responses: { 200: json(QuestionList, 'A page of questions'), ...errorResponses(422) },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const page = await listQuestions(
        deps.db,
        { status: query.status, ownerId: callerOf(c).ownerId },
        { limit: query.limit, after: pageAfter(query.cursor) },
      );
      return c.json({ items: page.items.map(toApiListedQuestion), next_cursor: nextCursor(page) }, 200);
    },
  );

  app.openapi(
    authedRoute(['read', 'worker'], {
      method: 'get',
      path: '/jobs/{id}/questions',
      tags,
      summary: "A job's questions to a person, oldest first, with their answers",
      request: { params: IdParam },
      responses: { 200: json(JobQuestions, "The job's questions"), ...errorResponses(404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await visibleOwnership(deps.db, 'CLAUDE_JOB', id, callerOf(c).ownerId);
      return c.json({ items: (await questionsOf(deps.db, id)).map(questionView) }, 200);
    },
  );

  app.openapi(
    authedRoute(['enqueue'], {
      method: 'post',
      path: '/jobs/{id}/questions/{question_id}/answer',
      tags,
      summary: "Answer an agent's question; the agent waiting in ask_user gets the answer",
      description:
        '404 when the job has no such question (or it is not yours); 409 question_closed when it was answered already or its job ended; ' +
        '422 when the answer is empty or too long, or the question has options and the answer is not one of them (details.allowed lists them).',
      request: { params: QuestionParams, body: { content: { 'application/json': { schema: AnswerBody } }, required: true } },
      responses: { 200: json(z.object({ question: Question }), 'The question, answered'), ...errorResponses(404, 409, 422) },
    }),
    async (c) => {
      const { id, question_id } = c.req.valid('param');
      const caller = callerOf(c);
      const answered = await answerQuestion(deps.db, {
        jobId: id,
        questionId: question_id,
        answer: c.req.valid('json').answer,
        actorTokenId: caller.actorTokenId,
        ownerId: caller.ownerId,
      });
      const question = questionView(answered);
      // The answer is stored: a notice that cannot be sent is logged, not the request's failure.
      try {
        const job = await noticeJob(deps.db, id);
        await publishJobNotices(deps.redis, deps.config.BULLMQ_PREFIX, [questionEvent('question_answered', job, question)]);
      } catch (error) {
        deps.logger.warn({ err: coerceError(error).message, questionId: question.id }, 'could not publish an answered question');
      }
      return c.json({ question }, 200);
    },
  );

  return app;
}
