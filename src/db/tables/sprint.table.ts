import type { Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { SprintStatus } from '../../machines/sprint.machine.js';
import type { CreatedAt, Id, NullableTimestamp, StatusColumn, Timestamp } from '../column-types.js';

export interface SprintTable {
  id: Id;
  product_id: string;
  name: string;
  goal: Generated<string>;
  status: StatusColumn<SprintStatus>;
  starts_at: NullableTimestamp;
  ends_at: NullableTimestamp;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export type Sprint = Selectable<SprintTable>;
export type NewSprint = Insertable<SprintTable>;
export type SprintUpdate = Updateable<SprintTable>;
