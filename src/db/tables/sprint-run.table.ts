import type { Insertable, Selectable } from 'kysely';
import type { SprintRunMode, SprintRunStatus } from '../../machines/sprint-run.machine.js';
import type { CreatedAt, Id, NullableJson, NullableTimestamp, StatusColumn, Timestamp } from '../column-types.js';

export interface SprintRunTable {
  id: Id;
  sprint_id: string;
  mode: SprintRunMode;
  status: StatusColumn<SprintRunStatus>;
  /** success, steps completed and total, per-agent results, deferred items, duration. */
  result: NullableJson;
  error: string | null;
  started_at: NullableTimestamp;
  finished_at: NullableTimestamp;
  created_by_token_id: string | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export type SprintRun = Selectable<SprintRunTable>;
export type NewSprintRun = Insertable<SprintRunTable>;
