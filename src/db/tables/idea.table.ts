import type { Insertable, Selectable, Updateable } from 'kysely';
import type { IdeaStatus } from '../../machines/idea.machine.js';
import type { CreatedAt, Id, NullableJson, StatusColumn, Timestamp } from '../column-types.js';

export interface IdeaTable {
  id: Id;
  product_id: string;
  title: string;
  prompt_text: string;
  status: StatusColumn<IdeaStatus>;
  grill_md: string | null;
  plan_md: string | null;
  /** The parse errors of the last plan_md that did not parse. */
  plan_errors: NullableJson<string[]>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export const IDEA_LOG_TYPES = ['GRILL_RESULT', 'PLAN_RESULT', 'JOB_EVENT', 'CHAT_MESSAGE', 'CHAT_REPLY'] as const;
export type IdeaLogType = (typeof IDEA_LOG_TYPES)[number];

export interface IdeaLogTable {
  id: Id;
  idea_id: string;
  type: IdeaLogType;
  content: string;
  data: NullableJson;
  job_id: string | null;
  created_at: CreatedAt;
}

export type Idea = Selectable<IdeaTable>;
export type NewIdea = Insertable<IdeaTable>;
export type IdeaUpdate = Updateable<IdeaTable>;
export type IdeaLog = Selectable<IdeaLogTable>;
export type NewIdeaLog = Insertable<IdeaLogTable>;
