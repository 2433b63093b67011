import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Generated } from 'kysely';
import type { CreatedAt, Id, Timestamp } from '../column-types.js';

export interface ProductTable {
  id: Id;
  owner_id: string;
  name: string;
  description: Generated<string>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export type Product = Selectable<ProductTable>;
export type NewProduct = Insertable<ProductTable>;
export type ProductUpdate = Updateable<ProductTable>;
