/**
 * The kinds of ClaudeJob. Each kind has its own BullMQ queue, its own subject (the entity the
 * job works on) and its own prompt builder and result handler (see src/kinds/).
 */
export const JOB_KINDS = [
  'TASK_IMPLEMENTATION',
  'IDEA_GRILL',
  'IDEA_MAKE_PLAN',
  'PLAN_CHAT',
  'SPRINT_IMPLEMENTATION',
] as const;

export type JobKind = (typeof JOB_KINDS)[number];

/** The column of claude_jobs that names a kind's subject. */
export type SubjectColumn = 'idea_id' | 'task_id' | 'sprint_run_id';

export const SUBJECT_OF_KIND = {
  TASK_IMPLEMENTATION: 'task_id',
  IDEA_GRILL: 'idea_id',
  IDEA_MAKE_PLAN: 'idea_id',
  PLAN_CHAT: 'idea_id',
  SPRINT_IMPLEMENTATION: 'sprint_run_id',
} as const satisfies Record<JobKind, SubjectColumn>;

export function isJobKind(value: string): value is JobKind {
  return (JOB_KINDS as readonly string[]).includes(value);
}
