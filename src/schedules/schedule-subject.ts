/**
 * What a schedule of each kind names and carries. Its subject is its jobs' subject, except for
 * sprint_implementation: a firing starts a new run of a sprint (as POST /sprints/{id}/runs does),
 * so that schedule names the sprint, and its payload says the run's mode.
 */
import { z } from 'zod';
import type { OwnedEntity } from '../backlog/ownership.js';
import { AppError } from '../errors/app-error.js';
import type { JobKind } from '../job-kinds.js';
import { checkedAgainst, checkedPayload } from '../jobs/insert-job-rows.js';
import type { SprintRunMode } from '../machines/index.js';
import { jobKind, sprintRunMode } from '../spelling/api-spelling.js';

export type ScheduleSubjectColumn = 'idea_id' | 'task_id' | 'sprint_id';

export const SCHEDULE_SUBJECT_COLUMNS = ['idea_id', 'task_id', 'sprint_id'] as const satisfies readonly ScheduleSubjectColumn[];

export const SCHEDULE_SUBJECT_OF_KIND = {
  TASK_IMPLEMENTATION: 'task_id',
  IDEA_GRILL: 'idea_id',
  IDEA_MAKE_PLAN: 'idea_id',
  PLAN_CHAT: 'idea_id',
  SPRINT_IMPLEMENTATION: 'sprint_id',
} as const satisfies Record<JobKind, ScheduleSubjectColumn>;

export const ENTITY_OF_SUBJECT = {
  idea_id: 'IDEA',
  task_id: 'TASK',
  sprint_id: 'SPRINT',
} as const satisfies Record<ScheduleSubjectColumn, OwnedEntity>;

/** A sprint schedule's payload: the mode of the runs it starts (default per_task). */
const SprintRunPayload = z.strictObject({
  mode: z
    .enum(sprintRunMode.apiValues as [string, ...string[]], { error: `must be one of ${sprintRunMode.apiValues.join(', ')}` })
    .optional(),
});

/** The payload as the kind accepts it (the same check as enqueue's), or validation_failed naming each field. */
export function checkedSchedulePayload(kind: JobKind, payload: Record<string, unknown>): Record<string, unknown> {
  if (kind !== 'SPRINT_IMPLEMENTATION') return checkedPayload(kind, payload);
  return checkedAgainst(SprintRunPayload, payload, `${jobKind.toApi(kind)} schedules`);
}

/** The mode of the runs a sprint schedule starts. */
export function runModeOf(payload: unknown): SprintRunMode {
  const mode = (payload as { mode?: unknown } | null)?.mode;
  return sprintRunMode.fromApi(mode) ?? 'PER_TASK';
}

/** The one subject the kind needs, named, and no other: validation_failed listing what is wrong. */
export function subjectOf(
  kind: JobKind,
  fields: Partial<Record<ScheduleSubjectColumn, string>>,
): { column: ScheduleSubjectColumn; id: string } {
  const column = SCHEDULE_SUBJECT_OF_KIND[kind];
  const api = jobKind.toApi(kind);
  const issues: { path: string; message: string }[] = [];
  if (!fields[column]) issues.push({ path: column, message: `required for ${api} schedules` });
  for (const other of SCHEDULE_SUBJECT_COLUMNS) {
    if (other !== column && fields[other] !== undefined) {
      issues.push({ path: other, message: `not allowed for ${api} schedules (their subject is ${column})` });
    }
  }
  if (issues.length) {
    throw new AppError('validation_failed', `invalid schedule: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { issues });
  }
  return { column, id: fields[column]! };
}
