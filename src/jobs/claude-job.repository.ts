import { sql } from 'kysely';
import type { Executor } from '../db/database.js';
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
}

/** Where a page ends: a job's created_at in microseconds (JS dates hold only milliseconds) and its id. */
export interface PagePosition {
  createdMicros: string;
  id: string;
}

export interface Page {
  limit: number;
  after?: PagePosition;
}

/** Newest first; `next` is where the following page starts, when there is one. */
export async function listJobs(db: Executor, filters: JobFilters, page: Page): Promise<{ items: ClaudeJob[]; next: PagePosition | null }> {
  let query = db
    .selectFrom('claude_jobs')
    .selectAll()
    .select(sql<string>`(extract(epoch from created_at) * 1000000)::bigint`.as('created_micros'));
  if (filters.status?.length) query = query.where('status', 'in', filters.status);
  if (filters.kind?.length) query = query.where('kind', 'in', filters.kind);
  if (filters.idea_id) query = query.where('idea_id', '=', filters.idea_id);
  if (filters.task_id) query = query.where('task_id', '=', filters.task_id);
  if (filters.sprint_run_id) query = query.where('sprint_run_id', '=', filters.sprint_run_id);
  if (filters.subject_id) query = query.where('subject_id', '=', filters.subject_id);
  if (page.after) {
    const { createdMicros, id } = page.after;
    query = query.where(sql<boolean>`(created_at, id) < (timestamptz 'epoch' + ${createdMicros}::bigint * interval '1 microsecond', ${id}::uuid)`);
  }
  const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit + 1).execute();
  const items = rows.slice(0, page.limit);
  const last = items.at(-1);
  const next = rows.length > page.limit && last ? { createdMicros: last.created_micros, id: last.id } : null;
  return { items: items.map(({ created_micros: _, ...job }) => job), next };
}
