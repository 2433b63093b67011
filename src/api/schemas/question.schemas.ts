import { z } from '@hono/zod-openapi';
import { type ListedQuestion, MAX_ANSWER_LENGTH, questionView } from '../../jobs/job-questions.js';
import { jobKind, questionStatus } from '../../spelling/api-spelling.js';
import { apiEnum, apiEnumList, Cursor, Limit } from './common.schemas.js';

/**
 * A question an agent asked through ask_user: src/jobs/job-questions.ts QuestionView, which the
 * routes answer with as it is (so the compiler holds the two to one shape).
 */
export const Question = z
  .object({
    id: z.uuid(),
    job_id: z.uuid(),
    product_id: z.uuid(),
    question: z.string(),
    options: z.array(z.string()).nullable().openapi({ description: 'the answer must be one of these; null: any answer' }),
    status: apiEnum(questionStatus).openapi({ description: 'open until answered, or closed when its job ended first' }),
    answer: z.string().nullable(),
    answered_by_token_id: z.uuid().nullable(),
    closed_reason: z.string().nullable(),
    created_at: z.string(),
    answered_at: z.string().nullable(),
    closed_at: z.string().nullable(),
  })
  .openapi('Question');

export const ListedQuestionSchema = Question.extend({ job_kind: apiEnum(jobKind) }).openapi('ListedQuestion');

export const QuestionList = z.object({ items: z.array(ListedQuestionSchema), next_cursor: z.string().nullable() }).openapi('QuestionList');

export const JobQuestions = z.object({ items: z.array(Question) }).openapi('JobQuestions');

const ANSWER_LENGTH = `must be 1 to ${MAX_ANSWER_LENGTH} characters`;

export const AnswerBody = z
  .object({
    answer: z
      .string({ error: 'must be a string' })
      .min(1, { error: ANSWER_LENGTH })
      .max(MAX_ANSWER_LENGTH, { error: ANSWER_LENGTH })
      .openapi({ description: 'stored trimmed; when the question has options, one of them' }),
  })
  .strict()
  .openapi('Answer');

export const QuestionQuery = z.object({
  status: apiEnumList(questionStatus).optional(),
  limit: Limit,
  cursor: Cursor,
});

export const QuestionParams = z.object({
  id: z.string().openapi({ param: { name: 'id', in: 'path' }, description: 'the job' }),
  question_id: z.string().openapi({ param: { name: 'question_id', in: 'path' } }),
});

export function toApiListedQuestion(row: ListedQuestion): z.infer<typeof ListedQuestionSchema> {
  const { job_kind, ...question } = row;
  return { ...questionView(question), job_kind: jobKind.toApi(job_kind) };
}
