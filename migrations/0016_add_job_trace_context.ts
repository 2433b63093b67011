import { type Kysely, sql } from 'kysely';

/**
 * The W3C trace context a job carries from the request that enqueued it (issue 22): the
 * propagation carrier as JSON text ({"traceparent": ...}), written only by a process that
 * exports traces, so that the worker's spans, and every re-delivery of the row (a requeue, a
 * reconcile after Redis was lost, a retry, which copies it), continue the same trace. Null when
 * tracing is off. Nullable without a default: adding it rewrites nothing.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE claude_jobs ADD COLUMN trace_context text`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE claude_jobs DROP COLUMN trace_context`.execute(db);
}
