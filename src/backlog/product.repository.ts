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

/**
 * The ids of an owner's products. Lists of one owner's jobs name them as constants: as a subquery
 * the planner cannot tell a small owner from a big one, and for an owner with few jobs it read
 * every job in creation order looking for theirs (seconds at millions of jobs, per page); with the
 * ids it goes through the jobs' product index.
 */
export async function productIdsOf(db: Executor, ownerId: string): Promise<string[]> {
  const rows = await db.selectFrom('products').select('id').where('owner_id', '=', ownerId).execute();
  return rows.map((row) => row.id);
}
