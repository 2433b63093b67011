import type { ColumnType, Insertable, Selectable } from 'kysely';
import type { CreatedAt, Id, NullableJson, NullableTimestamp } from '../column-types.js';

export type JobQuestionStatus = 'OPEN' | 'ANSWERED' | 'CLOSED';

/** A question an agent asked a person through `ask_user`, and its answer (migration 0010). */
export interface JobQuestionTable {
  id: Id;
  job_id: string;
  /** The job's product, so that owners see only their own questions. */
  product_id: string;
  question: string;
  /** The choices the agent offered (an array of strings), or null for a free answer. */
  options: NullableJson;
  /** Written by the functions of src/jobs/job-questions.ts only. */
  status: ColumnType<JobQuestionStatus, JobQuestionStatus | undefined, JobQuestionStatus>;
  answer: string | null;
  answered_by_token_id: string | null;
  /** Why a question closed unanswered: its job ended, or was cancelled. */
  closed_reason: string | null;
  created_at: CreatedAt;
  answered_at: NullableTimestamp;
  closed_at: NullableTimestamp;
}

export type JobQuestion = Selectable<JobQuestionTable>;
export type NewJobQuestion = Insertable<JobQuestionTable>;
