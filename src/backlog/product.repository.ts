/**
 * Creating a product, shared by the API and the CLI so both store the same defaults: an empty
 * description, no repository, no check, and the column's default branch (`main`) unless one is
 * named. The values arrive validated (src/api/schemas/repository.schemas.ts).
 */
import type { Executor } from '../db/database.js';
import type { Product } from '../db/tables/product.table.js';

export interface ProductFields {
  owner_id: string;
  name: string;
  description?: string | undefined;
  repository_url?: string | null | undefined;
  default_branch?: string | undefined;
  check_command?: string | null | undefined;
}

export function insertProduct(db: Executor, fields: ProductFields): Promise<Product> {
  const { owner_id, name, description = '', repository_url = null, check_command = null, default_branch } = fields;
  return db
    .insertInto('products')
    .values({ owner_id, name, description, repository_url, check_command, ...(default_branch === undefined ? {} : { default_branch }) })
    .returningAll()
    .executeTakeFirstOrThrow();
}
