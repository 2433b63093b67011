import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';
import type { ClaudeJobStatus } from '../../machines/claude-job.machine.js';
import type { JobKind } from '../../job-kinds.js';
import type { CreatedAt, DefaultedJson, Id, NullableJson, NullableTimestamp, StatusColumn, Timestamp } from '../column-types.js';

export interface ClaudeJobTable {
  id: Id;
  kind: JobKind;
  status: StatusColumn<ClaudeJobStatus>;
  /** Exactly the subject column its kind names is set (a CHECK enforces it). */
  idea_id: string | null;
  task_id: string | null;
  sprint_run_id: string | null;
  /** The product of the subject, for ownership. */
  product_id: string;
  /** The product's owner, kept on the job: fair shares count jobs per owner. */
  owner_id: string;
  /** The job's turn in its kind (src/fairness/turns.ts): its BullMQ priority. */
  turn: Generated<number>;
  /** coalesce of the three above, for "newest job per kind and subject". */
  subject_id: ColumnType<string, never, never>;
  payload: DefaultedJson;
  result: NullableJson;
  error: NullableJson;
  /** The token of the worker holding the current claim. */
  claimed_by_token_id: string | null;
  claimed_by_worker_id: string | null;
  /** Raised by every claim; a write carrying an older epoch is refused (fencing). */
  claim_epoch: Generated<number>;
  claimed_at: NullableTimestamp;
  lease_expires_at: NullableTimestamp;
  /** How many times a worker has claimed the job. */
  attempt_count: Generated<number>;
  /** How many times the sweeper put a stale claim back on the queue. */
  requeue_count: Generated<number>;
  /** The job this one retries after its worker was lost. */
  retry_of_job_id: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  /** numeric(14,6); pg returns it as a string. */
  cost_usd: ColumnType<string | null, number | string | null | undefined, number | string | null>;
  created_by_token_id: string | null;
  /** The job's own budget as enqueued ({max_cost_usd, max_output_tokens, max_turns}); kind defaults apply beneath it. */
  budget: NullableJson;
  /** The agent's last `report_progress`: {message, percent, at}. */
  progress: NullableJson;
  /** What the agent wrote through update_idea_grill_md / update_idea_plan_md: the job's answer when it finishes. */
  document: string | null;
  /** The job asked a person through ask_user: its end closes the questions still open. */
  has_questions: Generated<boolean>;
  /** The W3C trace context the job continues (src/telemetry): JSON text; null when tracing was off at its enqueue. */
  trace_context: string | null;
  started_at: NullableTimestamp;
  finished_at: NullableTimestamp;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export type ClaudeJob = Selectable<ClaudeJobTable>;
export type NewClaudeJob = Insertable<ClaudeJobTable>;
