import type { Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { StoryStatus } from '../../machines/story.machine.js';
import type { CreatedAt, Id, StatusColumn, Timestamp } from '../column-types.js';

export interface StoryTable {
  id: Id;
  pbi_id: string;
  sprint_id: string | null;
  title: string;
  description: Generated<string>;
  status: StatusColumn<StoryStatus>;
  sort_order: Generated<number>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export type Story = Selectable<StoryTable>;
export type NewStory = Insertable<StoryTable>;
export type StoryUpdate = Updateable<StoryTable>;
