import { z } from '@hono/zod-openapi';
import type { Schedule as ScheduleRow } from '../../db/tables/schedule.table.js';
import { MAX_EVERY_MS, MIN_EVERY_MS, nextFireAt } from '../../schedules/index.js';
import { jobKind } from '../../spelling/api-spelling.js';
import { apiEnum, Cursor, Limit, Uuid } from './common.schemas.js';

const everyMs = z
  .number({ error: `must be a whole number of milliseconds from ${MIN_EVERY_MS} to ${MAX_EVERY_MS}` })
  .int({ error: `must be a whole number of milliseconds from ${MIN_EVERY_MS} to ${MAX_EVERY_MS}` })
  .min(MIN_EVERY_MS, { error: `must be a whole number of milliseconds from ${MIN_EVERY_MS} to ${MAX_EVERY_MS}` })
  .max(MAX_EVERY_MS, { error: `must be a whole number of milliseconds from ${MIN_EVERY_MS} to ${MAX_EVERY_MS}` })
  .openapi({ description: 'fire every this many milliseconds (the first firing when it is installed); instead of cron' });
const cron = z.string().max(200).openapi({
  description: 'a cron expression (5 fields, or 6 with seconds first), read in `timezone`; instead of every_ms',
  example: '0 2 * * *',
});
const timezone = z.string().min(1).max(100).openapi({ description: 'an IANA time zone for cron (default UTC)', example: 'Europe/Paris' });
const payload = z.record(z.string(), z.unknown()).openapi({
  description:
    "each firing's job payload, as the kind's enqueue takes it; for sprint_implementation {mode: per_task | sprint_batch} (default per_task)",
});

export const Schedule = z
  .object({
    id: z.uuid(),
    kind: apiEnum(jobKind),
    idea_id: z.uuid().nullable(),
    task_id: z.uuid().nullable(),
    sprint_id: z.uuid().nullable().openapi({ description: 'sprint_implementation: each firing starts a run of this sprint' }),
    owner_id: z.string(),
    payload: z.unknown(),
    cron: z.string().nullable(),
    every_ms: z.number().int().nullable(),
    timezone: z.string(),
    enabled: z.boolean(),
    revision: z.number().int().openapi({ description: 'raised by every change' }),
    next_fire_at: z.string().nullable().openapi({ description: 'when it fires next; null while disabled' }),
    last_fired_at: z.string().nullable().openapi({ description: 'when its last firing was due' }),
    last_job_id: z.uuid().nullable().openapi({ description: 'the job its last firing made (for a sprint: the job driving the run)' }),
    last_outcome: z.enum(['enqueued', 'skipped']).nullable(),
    last_reason: z.string().nullable().openapi({ description: 'why the last firing made no job: a code and a message' }),
    firing_count: z.number().int(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Schedule');

export const NewSchedule = z
  .object({
    kind: apiEnum(jobKind),
    idea_id: Uuid.optional(),
    task_id: Uuid.optional(),
    sprint_id: Uuid.optional(),
    payload: payload.optional(),
    cron: cron.optional(),
    every_ms: everyMs.optional(),
    timezone: timezone.optional(),
    enabled: z.boolean().optional().openapi({ description: 'default true' }),
  })
  .strict()
  .openapi('NewSchedule', {
    example: {
      kind: 'plan_chat',
      idea_id: '0199a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d',
      payload: { message: 'What changed since yesterday?' },
      cron: '0 7 * * 1-5',
      timezone: 'Europe/Paris',
    },
  });

export const ScheduleUpdate = z
  .object({
    payload: payload.optional(),
    cron: cron.optional().openapi({ description: 'replaces every_ms' }),
    every_ms: everyMs.optional().openapi({ description: 'replaces cron' }),
    timezone: timezone.optional(),
    enabled: z.boolean().optional(),
  })
  .strict()
  .openapi('ScheduleUpdate');

export const ScheduleQuery = z.object({ limit: Limit, cursor: Cursor });

export type ApiSchedule = z.infer<typeof Schedule>;

const iso = (date: Date | null) => (date ? date.toISOString() : null);

/** A schedule row as the API shows it, with its next firing as of `now`. */
export function toApiSchedule(row: ScheduleRow, now = new Date()): ApiSchedule {
  const everyMs = row.every_ms === null ? null : Number(row.every_ms);
  return {
    id: row.id,
    kind: jobKind.toApi(row.kind),
    idea_id: row.idea_id,
    task_id: row.task_id,
    sprint_id: row.sprint_id,
    owner_id: row.owner_id,
    payload: row.payload,
    cron: row.cron,
    every_ms: everyMs,
    timezone: row.timezone,
    enabled: row.enabled,
    revision: row.revision,
    next_fire_at: row.enabled
      ? nextFireAt({ cron: row.cron, everyMs, timezone: row.timezone }, row.last_fired_at, now).toISOString()
      : null,
    last_fired_at: iso(row.last_fired_at),
    last_job_id: row.last_job_id,
    last_outcome: row.last_outcome === 'enqueued' || row.last_outcome === 'skipped' ? row.last_outcome : null,
    last_reason: row.last_reason,
    firing_count: row.firing_count,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}
