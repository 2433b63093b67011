import type { ColumnType, Generated, Selectable } from 'kysely';
import type { JobKind } from '../../job-kinds.js';
import type { CreatedAt, DefaultedJson, Id, NullableTimestamp, Timestamp } from '../column-types.js';

/** A recurring enqueue (SPEC "Fair shares and schedules"): Postgres is its truth, a BullMQ job scheduler its clock. */
export interface ScheduleTable {
  id: Id;
  owner_id: string;
  product_id: string;
  kind: JobKind;
  /** Exactly one subject is set (a CHECK enforces it): an idea, a task, or a sprint (whose firing starts a run). */
  idea_id: string | null;
  task_id: string | null;
  sprint_id: string | null;
  payload: DefaultedJson;
  /** Exactly one of cron and every_ms is set. */
  cron: string | null;
  /** bigint: pg returns it as a string. */
  every_ms: ColumnType<string | null, number | null, number | null>;
  timezone: Generated<string>;
  enabled: Generated<boolean>;
  /** Raised by every change, carried by the installed scheduler: an older one in Redis is installed again. */
  revision: Generated<number>;
  created_by_token_id: string | null;
  last_fired_at: NullableTimestamp;
  last_job_id: string | null;
  /** 'enqueued' or 'skipped'. */
  last_outcome: string | null;
  /** Why the last firing made no job (a code and message). */
  last_reason: string | null;
  firing_count: Generated<number>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

/** One firing of a schedule; (schedule_id, fired_for) is unique, so a firing delivered twice enqueues once. */
export interface ScheduleFiringTable {
  schedule_id: string;
  fired_for: ColumnType<Date, Date | string, Date | string>;
  job_id: string | null;
  outcome: 'enqueued' | 'skipped';
  reason: string | null;
  created_at: CreatedAt;
}

export type Schedule = Selectable<ScheduleTable>;
