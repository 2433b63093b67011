import type { ColumnType, Insertable, Selectable } from 'kysely';
import type { CreatedAt } from '../column-types.js';

/** Usage an agent reported through `record_usage`, once per its own id (migration 0010). */
export interface JobUsageRecordTable {
  job_id: string;
  id: string;
  input_tokens: number;
  output_tokens: number;
  /** numeric(14,6); pg returns it as a string. */
  cost_usd: ColumnType<string, number | string, number | string>;
  created_at: CreatedAt;
}

export type JobUsageRecord = Selectable<JobUsageRecordTable>;
export type NewJobUsageRecord = Insertable<JobUsageRecordTable>;
