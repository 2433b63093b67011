/**
 * The kinds of ClaudeJob, defined once: each kind's name, its API spelling, its BullMQ queue and
 * its subject (the entity the job works on). This is a leaf: the queue registry, the API
 * spelling, the config and the table types derive from it; the handlers live in src/kinds/.
 * The migration's CHECK constraint is frozen in time; a test keeps its list equal to this one.
 */

/** The column of claude_jobs that names a kind's subject. */
export type SubjectColumn = 'idea_id' | 'task_id' | 'sprint_run_id';

export const JOB_KINDS = ['TASK_IMPLEMENTATION', 'IDEA_GRILL', 'IDEA_MAKE_PLAN', 'PLAN_CHAT', 'SPRINT_IMPLEMENTATION'] as const;

export type JobKind = (typeof JOB_KINDS)[number];

interface JobKindDefinition {
  /** How the API spells the kind. */
  readonly api: string;
  /** The kind's BullMQ queue (queue names cannot contain a colon). */
  readonly queue: string;
  readonly subject: SubjectColumn;
}

export const JOB_KIND_DEFINITIONS = {
  TASK_IMPLEMENTATION: { api: 'task_implementation', queue: 'task_implementation', subject: 'task_id' },
  IDEA_GRILL: { api: 'idea_grill', queue: 'idea_grill', subject: 'idea_id' },
  IDEA_MAKE_PLAN: { api: 'idea_make_plan', queue: 'idea_make_plan', subject: 'idea_id' },
  PLAN_CHAT: { api: 'plan_chat', queue: 'plan_chat', subject: 'idea_id' },
  SPRINT_IMPLEMENTATION: { api: 'sprint_implementation', queue: 'sprint_implementation', subject: 'sprint_run_id' },
} as const satisfies { readonly [K in JobKind]: JobKindDefinition };

type Definitions = typeof JOB_KIND_DEFINITIONS;

type FieldOfKind<F extends keyof JobKindDefinition> = { readonly [K in JobKind]: Definitions[K][F] };

function pick<F extends keyof JobKindDefinition>(field: F): FieldOfKind<F> {
  return Object.freeze(Object.fromEntries(JOB_KINDS.map((kind) => [kind, JOB_KIND_DEFINITIONS[kind][field]]))) as FieldOfKind<F>;
}

export const SUBJECT_OF_KIND = pick('subject');
export const QUEUE_OF_KIND = pick('queue');
export const API_SPELLING_OF_KIND = pick('api');

export function isJobKind(value: string): value is JobKind {
  return (JOB_KINDS as readonly string[]).includes(value);
}
