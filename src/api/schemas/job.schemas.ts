import { jobBudgetSchema, type JobBudget } from '../../job-budget.js';
import { z } from '@hono/zod-openapi';
import type { ClaudeJob } from '../../db/tables/claude-job.table.js';
import { claudeJobStatus, jobKind } from '../../spelling/api-spelling.js';
import { apiEnum, apiEnumList, Cursor, Limit, Uuid } from './common.schemas.js';

const Usage = z.object({
  input_tokens: z.number().int().nullable(),
  output_tokens: z.number().int().nullable(),
  cost_usd: z.number().nullable(),
});

/** What an implementation job did to its product's repository (SPEC "Workspaces"). */
export const JobWorkspace = z
  .object({
    branch: z.string().openapi({ example: 'jobfleet/task-0199a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d' }),
    base_sha: z.string().openapi({ description: 'the commit the workspace started from' }),
    head_sha: z.string().openapi({ description: 'the commit pushed (equal to base_sha when nothing changed)' }),
    changed_files: z.array(z.string()),
    insertions: z.number().int(),
    deletions: z.number().int(),
    pushed: z.boolean().openapi({ description: 'false when the agent changed nothing (no branch is pushed then)' }),
  })
  .openapi('JobWorkspace');

/** The product's check, run in the workspace after the agent. */
export const JobVerify = z
  .object({
    command: z.string(),
    passed: z.boolean(),
    exit_code: z.number().int().nullable(),
    timed_out: z.boolean(),
    attempt: z.number().int().openapi({ description: 'which attempt this was; a failed check is retried by a new job' }),
    max_attempts: z.number().int().openapi({ description: 'VERIFY_MAX_ATTEMPTS when the job ran' }),
    output_tail: z.string().openapi({ description: "the check's last 4000 characters of output" }),
  })
  .openapi('JobVerify');

const JobResult = z
  .looseObject({
    text: z.string().optional(),
    data: z.unknown().optional(),
    agent: z.string().optional(),
    workspace: JobWorkspace.optional().openapi({ description: 'implementation jobs of a product with a repository: the pushed branch' }),
    verify: JobVerify.optional().openapi({ description: 'when the product has a check_command' }),
    salvage: JobWorkspace.nullable()
      .optional()
      .openapi({ description: 'an agent that reported failure: its work, pushed to jobfleet/salvage/<job>-<claim epoch>' }),
  })
  .nullable()
  .openapi({ description: "the agent's answer; null until the job is done" });

/** The agent's last report_progress (SPEC "Agents talk back"). */
const JobProgress = z
  .object({
    message: z.string(),
    percent: z.number().nullable().openapi({ description: '0 to 100, or null when the agent gave none' }),
    at: z.string(),
  })
  .nullable()
  .openapi('JobProgress', { description: "the agent's last progress report; null until it reports one" });

export const Job = z
  .object({
    id: z.uuid(),
    kind: apiEnum(jobKind),
    status: apiEnum(claudeJobStatus),
    idea_id: z.uuid().nullable(),
    task_id: z.uuid().nullable(),
    sprint_run_id: z.uuid().nullable(),
    product_id: z.uuid().openapi({ description: "the subject's product" }),
    owner_id: z.string().openapi({ description: "the product's owner" }),
    payload: z.unknown(),
    result: JobResult,
    error: z.unknown().openapi({
      description:
        'null, or { code, message, details }; codes include agent_failed, timeout, worker_lost, budget_exceeded (details: ceiling, limit, used, usage, partial_output), repository_unreachable, repository_empty, branch_not_found, push_rejected, workspace_failed (details.salvage: where the work was pushed)',
    }),
    attempt_count: z.number().int(),
    requeue_count: z.number().int(),
    claim_epoch: z.number().int(),
    claimed_by_worker_id: z.uuid().nullable(),
    retry_of_job_id: z.uuid().nullable(),
    usage: Usage,
    budget: z
      .object({ max_cost_usd: z.number().optional(), max_output_tokens: z.number().optional(), max_turns: z.number().optional() })
      .nullable()
      .openapi({ description: "the job's own budget as enqueued; null: its kind's default (JOB_BUDGETS), if any" }),
    progress: JobProgress,
    created_at: z.string(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    updated_at: z.string(),
  })
  .openapi('Job');

export const NewJob = z
  .object({
    kind: apiEnum(jobKind),
    idea_id: Uuid.optional(),
    task_id: Uuid.optional(),
    sprint_run_id: Uuid.optional(),
    payload: z.record(z.string(), z.unknown()).optional(),
    budget: jobBudgetSchema.optional().openapi({
      description:
        "ceilings enforced while the agent runs (over the kind's default, JOB_BUDGETS); at one the agent is stopped and the job fails budget_exceeded",
    }),
  })
  .strict()
  .openapi('NewJob', {
    example: { kind: 'plan_chat', idea_id: '0199a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d', payload: { message: 'Can we split the first story?' } },
  });

export const NewJobBatch = z
  .object({ jobs: z.array(NewJob).min(1, { error: 'at least one job' }).max(1000, { error: 'at most 1000 jobs per call' }) })
  .strict()
  .openapi('NewJobBatch');

export const JobList = z.object({ items: z.array(Job), next_cursor: z.string().nullable() }).openapi('JobList');

export const JobQuery = z.object({
  status: apiEnumList(claudeJobStatus).optional(),
  kind: apiEnumList(jobKind).optional(),
  idea_id: Uuid.optional(),
  task_id: Uuid.optional(),
  sprint_run_id: Uuid.optional(),
  subject_id: Uuid.optional(),
  limit: Limit,
  cursor: Cursor,
});

export const CancelBody = z.object({ reason: z.string().trim().min(1).max(2000).optional() }).strict();

export type ApiJob = z.infer<typeof Job>;

const iso = (date: Date | null) => (date ? date.toISOString() : null);

function progressOf(progress: ClaudeJob['progress']): ApiJob['progress'] {
  // Written only by report_progress as {message, percent, at}.
  if (progress === null || typeof progress !== 'object' || Array.isArray(progress)) return null;
  const { message, percent, at } = progress;
  return {
    message: typeof message === 'string' ? message : '',
    percent: typeof percent === 'number' ? percent : null,
    at: typeof at === 'string' ? at : '',
  };
}

/** A job row as the API shows it: lowercase enums, usage grouped, cost as a number. */
export function toApiJob(job: ClaudeJob): ApiJob {
  return {
    id: job.id,
    kind: jobKind.toApi(job.kind),
    status: claudeJobStatus.toApi(job.status),
    idea_id: job.idea_id,
    task_id: job.task_id,
    sprint_run_id: job.sprint_run_id,
    product_id: job.product_id,
    owner_id: job.owner_id,
    payload: job.payload,
    // Written only by resultOf (src/jobs/kind-handler.ts): an object, or null before the job ends.
    result: job.result as ApiJob['result'],
    error: job.error,
    attempt_count: job.attempt_count,
    requeue_count: job.requeue_count,
    claim_epoch: job.claim_epoch,
    claimed_by_worker_id: job.claimed_by_worker_id,
    retry_of_job_id: job.retry_of_job_id,
    usage: {
      input_tokens: job.input_tokens,
      output_tokens: job.output_tokens,
      cost_usd: job.cost_usd === null ? null : Number(job.cost_usd),
    },
    budget: (job.budget as JobBudget | null) ?? null,
    progress: progressOf(job.progress),
    created_at: job.created_at.toISOString(),
    started_at: iso(job.started_at),
    finished_at: iso(job.finished_at),
    updated_at: job.updated_at.toISOString(),
  };
}
