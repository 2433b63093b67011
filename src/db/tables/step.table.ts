import type { Insertable, Selectable } from 'kysely';
import type { StepStatus } from '../../machines/step.machine.js';
import type { CreatedAt, DefaultedJson, Id, NullableJson, NullableTimestamp, StatusColumn, Timestamp } from '../column-types.js';

export interface StepTable {
  id: Id;
  sprint_run_id: string;
  task_id: string | null;
  /** Place in the run's topological order, from 0. */
  position: number;
  name: string;
  status: StatusColumn<StepStatus>;
  agent: string | null;
  /** The TASK_IMPLEMENTATION job dispatched for this step (per-task runs). */
  job_id: string | null;
  output: NullableJson;
  metadata: DefaultedJson;
  started_at: NullableTimestamp;
  completed_at: NullableTimestamp;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export type Step = Selectable<StepTable>;
export type NewStep = Insertable<StepTable>;
