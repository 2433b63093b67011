import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Generated } from 'kysely';
import type { CreatedAt, Id, Timestamp } from '../column-types.js';

export interface ProductTable {
  id: Id;
  owner_id: string;
  name: string;
  description: Generated<string>;
  /** Where its implementation jobs work (a git URL or absolute path); null: no repository. */
  repository_url: string | null;
  /** The branch new work starts from. */
  default_branch: Generated<string>;
  /** Run with `/bin/sh -c` in a job's workspace to verify its work; null: no check. */
  check_command: string | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export type Product = Selectable<ProductTable>;
export type NewProduct = Insertable<ProductTable>;
export type ProductUpdate = Updateable<ProductTable>;
