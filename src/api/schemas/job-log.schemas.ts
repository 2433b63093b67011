/** GET /jobs/{id}/logs: a job's log lines in the API's spelling, read on from an opaque position. */
import { z } from '@hono/zod-openapi';
import { AppError } from '../../errors/app-error.js';
import { isJobLogPosition, type JobLogLine, type JobLogPosition, START } from '../../jobs/job-logs.js';
import { decodeCursor, encodeCursor } from './common.schemas.js';

const LIMIT_RANGE = 'must be a whole number from 1 to 1000';

export const JobLogQuery = z.object({
  after: z
    .string()
    .max(400)
    .optional()
    .openapi({ description: "next_after of a previous read: only the lines written since (without it: from the job's first line)" }),
  limit: z.coerce
    .number({ error: LIMIT_RANGE })
    .int({ error: LIMIT_RANGE })
    .min(1, { error: LIMIT_RANGE })
    .max(1000, { error: LIMIT_RANGE })
    .default(500),
});

export const JobLogLineSchema = z
  .object({
    source: z.enum(['worker', 'idea_log']).openapi({
      description:
        "worker: a line the worker wrote while it ran the job (the agent's output, its progress reports, the workspace and its check); idea_log: a row of the idea's log that this job wrote",
    }),
    text: z.string(),
    type: z
      .string()
      .nullable()
      .openapi({ description: 'idea_log lines: grill_result, plan_result, job_event, chat_message or chat_reply' }),
    delivery: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'worker lines: which delivery of the job wrote it (0, then one more per requeue)' }),
    at: z.string().nullable().openapi({ description: 'idea_log lines: when it was written (worker lines carry no time)' }),
  })
  .openapi('JobLogLine');

export const JobLogPage = z
  .object({
    items: z.array(JobLogLineSchema),
    next_after: z.string().openapi({ description: 'pass as ?after= to read on from here; given also when nothing was new' }),
    more: z.boolean().openapi({ description: 'true when this read stopped at its limit: read on at once' }),
    worker_unavailable: z.boolean().openapi({
      description:
        "true when Redis was down or did not answer: this read holds the idea's log rows only, and the worker's lines follow in a later read from next_after (Redis still keeping them)",
    }),
  })
  .openapi('JobLogPage');

export function logPositionOf(after: string | undefined): JobLogPosition {
  const position = decodeCursor(after, isJobLogPosition);
  if (position === null)
    throw new AppError('validation_failed', 'invalid after: pass next_after from a previous read', {
      issues: [{ path: 'after', message: 'not a log position' }],
    });
  return position ?? START;
}

export const encodeLogPosition = (position: JobLogPosition) => encodeCursor(position);

export function toApiLogLine(line: JobLogLine): z.infer<typeof JobLogLineSchema> {
  return line.source === 'worker'
    ? { source: 'worker', text: line.text, type: null, delivery: line.delivery, at: null }
    : { source: 'idea_log', text: line.text, type: line.type.toLowerCase(), delivery: null, at: line.at.toISOString() };
}
