/**
 * Questions an agent asks a person from inside its job (the MCP tool `ask_user`), and their
 * answers. A question is OPEN until a person answers it (ANSWERED) or its job ends first
 * (CLOSED); it never leaves ANSWERED or CLOSED. Every change is an UPDATE guarded by
 * `status = 'OPEN'`, so two answers racing for one question never both win, and an answer racing
 * the job's end never lands on a closed question: the loser gets 409 question_closed.
 *
 * Owners see the questions of their own products' jobs only; for anyone else a question does not
 * exist (404), as everywhere in the API.
 */
import { sql } from 'kysely';
import type { Db, Executor } from '../db/database.js';
import { fetchPage, type Page, type PageOf } from '../db/pagination.js';
import type { JobQuestion, JobQuestionStatus } from '../db/tables/job-question.table.js';
import { AppError } from '../errors/app-error.js';
import type { JobKind } from '../job-kinds.js';
import { questionStatus } from '../spelling/api-spelling.js';
import { isUuidShape } from '../util/uuid.js';

/** The longest answer a person may give. */
export const MAX_ANSWER_LENGTH = 10_000;
/** What ask_user accepts (its tool schema says the same; this keeps other callers honest). */
export const MAX_QUESTION_LENGTH = 4_000;
export const MAX_OPTIONS = 20;

export interface AskedQuestion {
  jobId: string;
  productId: string;
  question: string;
  options: string[] | null;
}

/** A question as the API, the live notices and the MCP tools show it. */
export interface QuestionView {
  id: string;
  job_id: string;
  product_id: string;
  question: string;
  /** The choices offered; an answer must be one of them. Null: any answer. */
  options: string[] | null;
  status: 'open' | 'answered' | 'closed';
  answer: string | null;
  answered_by_token_id: string | null;
  closed_reason: string | null;
  created_at: string;
  answered_at: string | null;
  closed_at: string | null;
}

function invalid(path: string, message: string, details: Record<string, unknown> = {}): AppError {
  return new AppError('validation_failed', `invalid ${path}: ${message}`, { ...details, issues: [{ path, message }] });
}

/** Stores an OPEN question. Options, when given, are what the answer must be one of; `[]` means none. */
export async function askQuestion(db: Executor, asked: AskedQuestion): Promise<JobQuestion> {
  const question = asked.question.trim();
  if (!question || question.length > MAX_QUESTION_LENGTH) throw invalid('question', `must be 1 to ${MAX_QUESTION_LENGTH} characters`);
  const options = asked.options?.length ? asked.options.map((option) => option.trim()) : null;
  if (options && options.length > MAX_OPTIONS) throw invalid('options', `at most ${MAX_OPTIONS} options`);
  if (options?.some((option) => !option || option.length > MAX_ANSWER_LENGTH)) {
    // An option must be an answer a person can give.
    throw invalid('options', `each option must be 1 to ${MAX_ANSWER_LENGTH} characters`);
  }
  return db
    .insertInto('job_questions')
    .values({ job_id: asked.jobId, product_id: asked.productId, question, options: options ? JSON.stringify(options) : null })
    .returningAll()
    .executeTakeFirstOrThrow();
}

function closedError(question: Pick<JobQuestion, 'id' | 'status' | 'closed_reason'>): AppError {
  const why =
    question.status === 'ANSWERED' ? 'was answered already' : `was closed${question.closed_reason ? ` (${question.closed_reason})` : ''}`;
  return new AppError('question_closed', `question ${question.id} ${why}`, {
    id: question.id,
    status: questionStatus.toApi(question.status),
  });
}

/**
 * Records a person's answer: 404 not_found (no such question of that job, or the caller's owner
 * cannot see it), 409 question_closed (answered or closed already, also when another answer won
 * the race), 422 validation_failed (an empty or too long answer, or options were given and the
 * answer is not one of them). The answer is stored trimmed. `ownerId` null: any owner (admins).
 */
export async function answerQuestion(
  db: Db,
  input: { jobId: string; questionId: string; answer: string; actorTokenId: string; ownerId: string | null },
): Promise<JobQuestion> {
  const answer = input.answer.trim();
  if (!answer) throw invalid('answer', 'must not be empty');
  if (answer.length > MAX_ANSWER_LENGTH) throw invalid('answer', `must be at most ${MAX_ANSWER_LENGTH} characters`);
  const notFound = new AppError('not_found', `question ${input.questionId} of job ${input.jobId} does not exist`, {
    id: input.questionId,
    job_id: input.jobId,
  });
  if (!isUuidShape(input.jobId) || !isUuidShape(input.questionId)) throw notFound;

  // Ownership goes by the job's product, as for the job itself.
  const found = await db
    .selectFrom('job_questions as q')
    .innerJoin('claude_jobs as j', 'j.id', 'q.job_id')
    .innerJoin('products as p', 'p.id', 'j.product_id')
    .selectAll('q')
    .select('p.owner_id')
    .where('q.id', '=', input.questionId)
    .where('q.job_id', '=', input.jobId)
    .executeTakeFirst();
  if (!found || (input.ownerId !== null && found.owner_id !== input.ownerId)) throw notFound;
  if (found.status !== 'OPEN') throw closedError(found);
  const options = optionsOf(found);
  if (options && !options.includes(answer)) {
    throw invalid('answer', `must be one of the options: ${options.map((option) => JSON.stringify(option)).join(', ')}`, {
      allowed: options,
    });
  }

  const answered = await db
    .updateTable('job_questions')
    .set({ status: 'ANSWERED', answer, answered_by_token_id: input.actorTokenId, answered_at: sql<Date>`now()` })
    .where('id', '=', input.questionId)
    .where('status', '=', 'OPEN')
    .returningAll()
    .executeTakeFirst();
  if (answered) return answered;
  // Another answer, or the job's end, got there between the read and the write.
  const now = await getQuestion(db, input.questionId);
  throw closedError(now ?? { id: input.questionId, status: 'CLOSED', closed_reason: null });
}

/** OPEN -> CLOSED for the questions of these jobs (their jobs ended); returns the closed rows. */
export async function closeQuestions(db: Executor, jobIds: readonly string[], reason: string): Promise<JobQuestion[]> {
  if (jobIds.length === 0) return [];
  return db
    .updateTable('job_questions')
    .set({ status: 'CLOSED', closed_reason: reason, closed_at: sql<Date>`now()` })
    .where('job_id', 'in', [...jobIds])
    .where('status', '=', 'OPEN')
    .returningAll()
    .execute();
}

/** The questions of one job, oldest first. */
export async function questionsOf(db: Executor, jobId: string): Promise<JobQuestion[]> {
  if (!isUuidShape(jobId)) return [];
  return db.selectFrom('job_questions').selectAll().where('job_id', '=', jobId).orderBy('created_at').orderBy('id').execute();
}

export async function getQuestion(db: Executor, questionId: string): Promise<JobQuestion | undefined> {
  if (!isUuidShape(questionId)) return undefined;
  return db.selectFrom('job_questions').selectAll().where('id', '=', questionId).executeTakeFirst();
}

export interface QuestionFilters {
  status?: JobQuestionStatus[] | undefined;
  /** Only questions of this owner's products (null: every owner's). */
  ownerId: string | null;
}

export type ListedQuestion = JobQuestion & { job_kind: JobKind };

/** Questions across jobs, newest first, with their job's kind (what a person needs to answer). */
export async function listQuestions(db: Executor, filters: QuestionFilters, page: Page): Promise<PageOf<ListedQuestion>> {
  let query = db
    .selectFrom('job_questions')
    .innerJoin('claude_jobs', 'claude_jobs.id', 'job_questions.job_id')
    .selectAll('job_questions')
    .select('claude_jobs.kind as job_kind');
  if (filters.status?.length) query = query.where('job_questions.status', 'in', filters.status);
  const { ownerId } = filters;
  if (ownerId !== null) {
    query = query.where('claude_jobs.product_id', 'in', (eb) => eb.selectFrom('products').select('id').where('owner_id', '=', ownerId));
  }
  return fetchPage(query, 'job_questions', page);
}

function optionsOf(row: JobQuestion): string[] | null {
  // Written only by askQuestion: an array of strings, or null.
  return Array.isArray(row.options) ? (row.options as string[]) : null;
}

const iso = (date: Date | null) => (date ? date.toISOString() : null);

export function questionView(row: JobQuestion): QuestionView {
  return {
    id: row.id,
    job_id: row.job_id,
    product_id: row.product_id,
    question: row.question,
    options: optionsOf(row),
    status: questionStatus.toApi(row.status),
    answer: row.answer,
    answered_by_token_id: row.answered_by_token_id,
    closed_reason: row.closed_reason,
    created_at: row.created_at.toISOString(),
    answered_at: iso(row.answered_at),
    closed_at: iso(row.closed_at),
  };
}
