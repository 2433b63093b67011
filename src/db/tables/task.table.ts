import type { Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { TaskStatus } from '../../machines/task.machine.js';
import type { CreatedAt, Id, StatusColumn, Timestamp } from '../column-types.js';

export interface TaskTable {
  id: Id;
  story_id: string;
  /** Denormalised from the story while it is in a sprint. */
  sprint_id: string | null;
  title: string;
  description: Generated<string>;
  implementation_plan: string | null;
  status: StatusColumn<TaskStatus>;
  sort_order: Generated<number>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

/** task_id depends on depends_on_task_id: it may start only once that task is done. */
export interface TaskDependencyTable {
  task_id: string;
  depends_on_task_id: string;
  created_at: CreatedAt;
}

export type Task = Selectable<TaskTable>;
export type NewTask = Insertable<TaskTable>;
export type TaskUpdate = Updateable<TaskTable>;
export type TaskDependency = Selectable<TaskDependencyTable>;
