/**
 * The repository a product names, as implementation jobs need it (SPEC "Workspaces"). A product
 * without one gives null: its jobs run as they always did, in the worker's own directory.
 */
import type { Executor } from '../db/database.js';

export interface ProductRepository {
  url: string;
  defaultBranch: string;
  /** Run in the workspace after the agent; null: no verify gate. */
  checkCommand: string | null;
}

export async function productRepository(db: Executor, productId: string): Promise<ProductRepository | null> {
  const product = await db
    .selectFrom('products')
    .select(['repository_url', 'default_branch', 'check_command'])
    .where('id', '=', productId)
    .executeTakeFirst();
  if (!product?.repository_url) return null;
  return { url: product.repository_url, defaultBranch: product.default_branch, checkCommand: product.check_command };
}
