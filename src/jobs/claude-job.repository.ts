import { sql } from 'kysely';
import { productIdsOf } from '../backlog/product.repository.js';
import type { Executor } from '../db/database.js';
import { fetchPage, type Page, type PageOf } from '../db/pagination.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { AppError } from '../errors/app-error.js';
import type { ClaudeJobStatus } from '../machines/index.js';
import type { JobKind } from '../queues/kinds.js';

export async function findJob(db: Executor, id: string): Promise<ClaudeJob | undefined> {
  return db.selectFrom('claude_jobs').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function getJob(db: Executor, id: string): Promise<ClaudeJob> {
  const job = await findJob(db, id);
  if (!job) throw new AppError('not_found', `job ${id} does not exist`, { id });
  return job;
}

export interface JobFilters {
  status?: ClaudeJobStatus[];
  kind?: JobKind[];
  idea_id?: string;
  task_id?: string;
  sprint_run_id?: string;
  /** The job's subject, whatever its kind. */
  subject_id?: string;
  product_id?: string;
  /** Only jobs of this owner's products (absent: every owner's). */
  ownerId?: string | null;
}

/** Newest first; `next` is where the following page starts, when there is one. */
export async function listJobs(db: Executor, filters: JobFilters, page: Page): Promise<PageOf<ClaudeJob>> {
  let query = db.selectFrom('claude_jobs').selectAll('claude_jobs');
  if (filters.status?.length) query = query.where('status', 'in', filters.status);
  if (filters.kind?.length) query = query.where('kind', 'in', filters.kind);
  // A job naming an idea or a task has it as its subject (the table's subject check), so the
  // subject's index finds them: without that, a filter matching few jobs reads every job.
  if (filters.idea_id) query = query.where('idea_id', '=', filters.idea_id).where('subject_id', '=', filters.idea_id);
  if (filters.task_id) query = query.where('task_id', '=', filters.task_id).where('subject_id', '=', filters.task_id);
  if (filters.sprint_run_id) query = query.where('sprint_run_id', '=', filters.sprint_run_id);
  if (filters.subject_id) query = query.where('subject_id', '=', filters.subject_id);
  if (filters.product_id) query = query.where('product_id', '=', filters.product_id);
  if (filters.ownerId) {
    const products = await productIdsOf(db, filters.ownerId);
    if (products.length === 0) return { items: [], next: null };
    query = query.where('product_id', '=', sql<string>`ANY(${products}::uuid[])`);
  }
  return fetchPage(query, 'claude_jobs', page);
}
