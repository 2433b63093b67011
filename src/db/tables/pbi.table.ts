import type { Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { PbiStatus } from '../../machines/pbi.machine.js';
import type { CreatedAt, Id, StatusColumn, Timestamp } from '../column-types.js';

export interface PbiTable {
  id: Id;
  product_id: string;
  title: string;
  description: Generated<string>;
  status: StatusColumn<PbiStatus>;
  priority: Generated<number>;
  sort_order: Generated<number>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export type Pbi = Selectable<PbiTable>;
export type NewPbi = Insertable<PbiTable>;
export type PbiUpdate = Updateable<PbiTable>;
