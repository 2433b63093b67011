/**
 * The registry of job kinds: for each, its queue, its subject, the payload it accepts and how
 * the fleet treats it when its worker is lost. A new kind is named in src/job-kinds.ts (name,
 * API spelling, queue, subject), then given its payload here and its handler in src/kinds/ (both
 * maps `satisfies Record<JobKind, ...>`, so neither can be forgotten).
 */
import { z } from 'zod';
import { JOB_KINDS, type JobKind, QUEUE_OF_KIND, SUBJECT_OF_KIND, type SubjectColumn } from '../job-kinds.js';

export { JOB_KINDS, type JobKind, SUBJECT_OF_KIND, type SubjectColumn } from '../job-kinds.js';

const note = (max: number) => z.string().trim().min(1).max(max);

export interface KindDefinition {
  /** The BullMQ queue of the kind (queue names cannot contain a colon). */
  queue: string;
  subject: SubjectColumn;
  /** What `payload` may hold for this kind; unknown fields are refused. */
  payload: z.ZodType<Record<string, unknown>>;
  /**
   * When the worker running a job of this kind is lost, the job is FAILED (`worker_lost`) and,
   * if this is true and the retry cap allows, enqueued again as a new job.
   */
  retryWhenWorkerLost: boolean;
  /** Its jobs change code: they run in a workspace of their product's repository when it names one. */
  changesCode: boolean;
}

export const KINDS = {
  TASK_IMPLEMENTATION: {
    queue: QUEUE_OF_KIND.TASK_IMPLEMENTATION,
    subject: SUBJECT_OF_KIND.TASK_IMPLEMENTATION,
    // A verify retry's `verify` (attempt, check, failing output) is set by jobfleet alone
    // (EnqueueRequest.internal); from a caller it is an unknown field, refused like any other.
    payload: z.strictObject({ instructions: note(20_000).optional() }),
    retryWhenWorkerLost: true,
    changesCode: true,
  },
  IDEA_GRILL: {
    queue: QUEUE_OF_KIND.IDEA_GRILL,
    subject: SUBJECT_OF_KIND.IDEA_GRILL,
    payload: z.strictObject({ answers: note(50_000).optional() }),
    retryWhenWorkerLost: true,
    changesCode: false,
  },
  IDEA_MAKE_PLAN: {
    queue: QUEUE_OF_KIND.IDEA_MAKE_PLAN,
    subject: SUBJECT_OF_KIND.IDEA_MAKE_PLAN,
    payload: z.strictObject({ guidance: note(20_000).optional() }),
    retryWhenWorkerLost: true,
    changesCode: false,
  },
  PLAN_CHAT: {
    queue: QUEUE_OF_KIND.PLAN_CHAT,
    subject: SUBJECT_OF_KIND.PLAN_CHAT,
    payload: z.strictObject({ message: note(20_000) }),
    retryWhenWorkerLost: true,
    changesCode: false,
  },
  SPRINT_IMPLEMENTATION: {
    queue: QUEUE_OF_KIND.SPRINT_IMPLEMENTATION,
    subject: SUBJECT_OF_KIND.SPRINT_IMPLEMENTATION,
    payload: z.strictObject({}),
    // The retry resumes the run where it stopped (the step that was running runs again).
    retryWhenWorkerLost: true,
    changesCode: true,
  },
} as const satisfies Record<JobKind, KindDefinition>;

export function queueNameOf(kind: JobKind): string {
  return KINDS[kind].queue;
}

export const QUEUE_NAMES: readonly string[] = JOB_KINDS.map(queueNameOf);
