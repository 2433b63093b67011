import { z } from '@hono/zod-openapi';
import type { ClaudeJob } from '../../db/tables/claude-job.table.js';
import { claudeJobStatus, jobKind } from '../../spelling/api-spelling.js';
import { apiEnum, apiEnumList, Cursor, Limit, Uuid } from './common.schemas.js';

const Usage = z.object({
  input_tokens: z.number().int().nullable(),
  output_tokens: z.number().int().nullable(),
  cost_usd: z.number().nullable(),
});

export const Job = z
  .object({
    id: z.uuid(),
    kind: apiEnum(jobKind),
    status: apiEnum(claudeJobStatus),
    idea_id: z.uuid().nullable(),
    task_id: z.uuid().nullable(),
    sprint_run_id: z.uuid().nullable(),
    payload: z.unknown(),
    result: z.unknown(),
    error: z.unknown(),
    attempt_count: z.number().int(),
    requeue_count: z.number().int(),
    claim_epoch: z.number().int(),
    claimed_by_worker_id: z.uuid().nullable(),
    retry_of_job_id: z.uuid().nullable(),
    usage: Usage,
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

/** A job row as the API shows it: lowercase enums, usage grouped, cost as a number. */
export function toApiJob(job: ClaudeJob): ApiJob {
  return {
    id: job.id,
    kind: jobKind.toApi(job.kind),
    status: claudeJobStatus.toApi(job.status),
    idea_id: job.idea_id,
    task_id: job.task_id,
    sprint_run_id: job.sprint_run_id,
    payload: job.payload,
    result: job.result,
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
    created_at: job.created_at.toISOString(),
    started_at: iso(job.started_at),
    finished_at: iso(job.finished_at),
    updated_at: job.updated_at.toISOString(),
  };
}
