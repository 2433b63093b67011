/**
 * The rows of an enqueue, in the caller's transaction: the payloads checked against their kind,
 * the subjects found (within the caller's owner), one QUEUED row each with its history, the
 * caller's hook (the kinds' subject transitions), and older queued jobs of the same kind and
 * subject superseded (SKIPPED).
 */
import { sql } from 'kysely';
import { ownershipOf } from '../backlog/ownership.js';
import type { Trx } from '../db/database.js';
import type { ClaudeJob, NewClaudeJob } from '../db/tables/claude-job.table.js';
import { AppError } from '../errors/app-error.js';
import { claudeJobMachine } from '../machines/index.js';
import { type JobKind, KINDS } from '../queues/kinds.js';
import { jobKind } from '../spelling/api-spelling.js';
import { createEntities, transitionMany } from '../transitions/index.js';
import type { JobBudget } from '../job-budget.js';
import type { BudgetDay } from '../budgets/owner-budgets.js';
import { assignTurns } from '../fairness/turns.js';
import { lockSubjectOwners } from './enqueue-subjects.js';
import { activeTraceContext, tracingOn } from '../telemetry/tracing.js';

export interface EnqueueRequest {
  /** The new job's id, when the caller must name it before the insert (a history row points at it). */
  id?: string;
  kind: JobKind;
  /** The id of the kind's subject (idea, task or sprint run). */
  subjectId: string;
  payload?: Record<string, unknown>;
  /** A TASK_IMPLEMENTATION job dispatched by a sprint run names the run too. */
  sprintRunId?: string | null;
  /** The job this one retries (a task whose check failed is tried again by a new job). */
  retryOf?: string;
  /**
   * Payload fields only jobfleet sets, stored beside the checked payload: a verify retry's
   * attempt, check and failing output. Never from a caller.
   */
  internal?: Record<string, unknown>;
  /** The job's own ceilings (checked by the caller against jobBudgetSchema). */
  budget?: JobBudget | undefined;
  /**
   * The trace context the job continues (src/telemetry/tracing.ts), kept only when tracing is on:
   * absent, the active one's at the insert; null, none. Set by callers whose insert runs outside
   * the request's context (the enqueue batcher) or that continue another job's trace (a retry).
   */
  trace?: string | null | undefined;
}

export interface EnqueueContext {
  actorTokenId: string | null;
  /** Subjects must belong to this owner's products (absent or null: any owner). */
  ownerId?: string | null;
  /**
   * Refuse (409 budget_exhausted) when a subject's owner has spent this day's budget: set for
   * enqueues by callers, never for jobs the fleet makes itself (retries, a run's next steps).
   */
  budgetDay?: BudgetDay | undefined;
}

export interface InsertedJobs {
  /** The new rows in request order (SKIPPED when a newer one in the same call superseded them). */
  created: ClaudeJob[];
  /** Every job this call superseded, older ones and ones of the same call. */
  superseded: ClaudeJob[];
}

/** Runs after the rows are inserted, before superseding; throwing rolls the enqueue back. */
export type InsertedHook = (trx: Trx, rows: readonly ClaudeJob[]) => Promise<void>;

export async function insertJobRows(
  trx: Trx,
  requests: readonly EnqueueRequest[],
  context: EnqueueContext,
  onInserted: InsertedHook = async () => {},
): Promise<InsertedJobs> {
  if (requests.length === 0) return { created: [], superseded: [] };
  if (requests.length > MAX_BATCH) {
    throw new AppError('validation_failed', `at most ${MAX_BATCH} jobs per call, got ${requests.length}`, { max: MAX_BATCH });
  }
  const owners = await lockSubjectOwners(trx, requests, context.ownerId ?? null, context.budgetDay);
  await checkNamedRuns(trx, requests, context.ownerId ?? null);
  const turns = await assignTurns(
    trx,
    requests.map((request) => ({ kind: request.kind, owner_id: owners.get(request.subjectId)!.ownerId })),
  );
  // Off, nothing is looked at and the column is left out of the insert.
  const active = tracingOn() ? activeTraceContext() : null;
  const values = requests.map((request, index) => ({
    ...rowOf(request, index, requests.length > 1),
    ...traceOf(request, active),
    product_id: owners.get(request.subjectId)!.productId,
    owner_id: owners.get(request.subjectId)!.ownerId,
    turn: turns[index]!,
    created_by_token_id: context.actorTokenId,
  }));

  let rows: ClaudeJob[];
  try {
    rows = (await createEntities(trx, claudeJobMachine, values, { actorTokenId: context.actorTokenId, reason: 'enqueued' })).map(
      (created) => created.row,
    );
  } catch (error) {
    throw missingSubject(error) ?? error;
  }

  await onInserted(trx, rows);
  const superseded = await supersede(trx, rows, context);
  const skipped = new Set(superseded.map((job) => job.id));
  const created = rows.map((row) => (skipped.has(row.id) ? { ...row, status: 'SKIPPED' as const } : row));
  return { created, superseded };
}

function traceOf(request: EnqueueRequest, active: string | null): { trace_context?: string } {
  if (!tracingOn()) return {};
  const trace = request.trace === undefined ? active : request.trace;
  return trace ? { trace_context: trace } : {};
}

/** The most jobs one call may enqueue (one statement, one transaction, one bulk add). */
export const MAX_BATCH = 1_000;

function rowOf(request: EnqueueRequest, index: number, inBatch: boolean): Omit<NewClaudeJob, 'product_id' | 'owner_id'> {
  const kind = KINDS[request.kind];
  const payload = checkedPayload(request.kind, request.payload ?? {}, inBatch ? `jobs[${index}].` : '');
  return {
    ...(request.id ? { id: request.id } : {}),
    kind: request.kind,
    [kind.subject]: request.subjectId,
    ...(request.sprintRunId && kind.subject !== 'sprint_run_id' ? { sprint_run_id: request.sprintRunId } : {}),
    payload: JSON.stringify({ ...payload, ...request.internal }),
    ...(request.retryOf ? { retry_of_job_id: request.retryOf } : {}),
    ...(request.budget ? { budget: JSON.stringify(request.budget) } : {}),
  };
}

/**
 * The payload as its kind accepts it, or validation_failed listing each offending field (under
 * `at`, the request's place in a batch). Schedules check theirs with it too, when they are made.
 */
export function checkedPayload(kind: JobKind, payload: Record<string, unknown>, at = ''): Record<string, unknown> {
  return checkedAgainst(KINDS[kind].payload, payload, `${jobKind.toApi(kind)} jobs`, at);
}

/** A payload checked against a schema, for `what` (e.g. "plan_chat jobs"): validation_failed naming each field. */
export function checkedAgainst(schema: PayloadSchema, payload: Record<string, unknown>, what: string, at = ''): Record<string, unknown> {
  const parsed = schema.safeParse(payload);
  if (parsed.success) return parsed.data as Record<string, unknown>;
  throw new AppError('validation_failed', `invalid payload for ${what}`, {
    issues: parsed.error.issues.map((issue) => ({
      path: `${at}payload${issue.path.map((p) => `.${String(p)}`).join('')}`,
      message: issue.message,
    })),
  });
}

/** What checkedAgainst needs of a schema (a zod one). */
interface PayloadSchema {
  safeParse(
    value: unknown,
  ): { success: true; data: unknown } | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };
}

/** Older QUEUED jobs of the same kind and subject as a new one are SKIPPED; the newest stays. */
async function supersede(trx: Trx, rows: readonly ClaudeJob[], context: EnqueueContext): Promise<ClaudeJob[]> {
  const newest = new Map<string, ClaudeJob>();
  for (const row of rows) newest.set(`${row.kind}:${row.subject_id}`, row);
  const survivors = [...newest.values()];
  // One probe of the queued index per kind and subject, in order of creation. The function
  // (migration 0015) plans it with sorting disabled: with stale or absent statistics every
  // QUEUED partial index looked like one row, and a turns index plus a sort filtered every QUEUED
  // job of the kind per probe (seconds per call of 1,000 on a fresh fleet receiving a backlog).
  const older = await sql<{ id: string; survivor: string }>`
    SELECT older_id AS id, newest_id AS survivor
    FROM jobfleet_queued_older(${survivors.map((r) => r.kind)}::text[], ${survivors.map((r) => r.subject_id)}::uuid[], ${survivors.map((r) => r.id)}::uuid[])
  `.execute(trx);
  if (older.rows.length === 0) return [];
  const { applied } = await transitionMany(
    trx,
    claudeJobMachine,
    older.rows.map(({ id, survivor }) => ({
      id,
      from: 'QUEUED' as const,
      to: 'SKIPPED' as const,
      set: { finished_at: new Date().toISOString() },
      context: { actorTokenId: context.actorTokenId, reason: `superseded by job ${survivor}` },
    })),
  );
  return applied.map((change) => change.row);
}

/**
 * A task job may name the sprint run it works for. The run must be one the caller may see (404
 * otherwise, like any foreign id, so another owner's run ids do not leak) and the task must be
 * in that run's sprint (422, naming the field): the job's start moves the task inside the run,
 * and that move is refused for a task of another sprint, so such a job could never run.
 */
async function checkNamedRuns(trx: Trx, requests: readonly EnqueueRequest[], ownerId: string | null): Promise<void> {
  const named = requests.flatMap((request, index) => (request.sprintRunId ? [{ request, index, runId: request.sprintRunId }] : []));
  if (named.length === 0) return;
  const runIds = [...new Set(named.map((entry) => entry.runId))];
  const owners = await ownershipOf(trx, 'SPRINT_RUN', runIds);
  for (const { runId } of named) {
    const ownership = owners.get(runId);
    if (!ownership || (ownerId !== null && ownership.ownerId !== ownerId)) {
      throw new AppError('not_found', `sprint run ${runId} does not exist`, { sprint_run_id: runId });
    }
  }
  const taskIds = [...new Set(named.map((entry) => entry.request.subjectId))];
  const runs = await trx.selectFrom('sprint_runs').select(['id', 'sprint_id']).where('id', 'in', runIds).execute();
  const tasks = await trx.selectFrom('tasks').select(['id', 'sprint_id']).where('id', 'in', taskIds).execute();
  const sprintOfRun = new Map(runs.map((run) => [run.id, run.sprint_id]));
  const sprintOfTask = new Map(tasks.map((task) => [task.id, task.sprint_id]));
  const issues = named
    .filter(({ request, runId }) => sprintOfTask.get(request.subjectId) !== sprintOfRun.get(runId))
    .map(({ request, index, runId }) => ({
      path: `${requests.length > 1 ? `jobs[${index}].` : ''}sprint_run_id`,
      message: `task ${request.subjectId} is not in the sprint of sprint run ${runId}`,
    }));
  if (issues.length)
    throw new AppError('validation_failed', `invalid job: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { issues });
}

/** A foreign-key violation on insert means a subject that does not exist: 404, naming it. */
function missingSubject(error: unknown): AppError | null {
  const e = error as { code?: string; detail?: string };
  if (e.code !== '23503') return null;
  const match = /Key \((\w+)\)=\(([^)]+)\) is not present in table "(\w+)"/.exec(e.detail ?? '');
  if (!match) return new AppError('not_found', 'a subject of the job does not exist');
  const [, column, id] = match;
  const noun = { idea_id: 'idea', task_id: 'task', sprint_run_id: 'sprint run' }[column!] ?? column;
  return new AppError('not_found', `${noun} ${id} does not exist`, { [column!]: id });
}
