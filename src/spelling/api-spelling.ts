/**
 * The database/API spelling of every enum jobfleet exposes. Conversions happen only through
 * these tables; `satisfies Record<...>` makes a new status fail to compile until it is spelled.
 * Each machine spells its own statuses (it needs them for its messages) and src/job-kinds.ts
 * spells the kinds; this module gathers them with the spellings that belong to no machine.
 */
import type { JobQuestionStatus } from '../db/tables/job-question.table.js';
import { API_SPELLING_OF_KIND } from '../job-kinds.js';
import type { EntityType } from '../machines/index.js';
import { claudeJobStatus } from '../machines/claude-job.machine.js';
import { ideaStatus } from '../machines/idea.machine.js';
import { pbiStatus } from '../machines/pbi.machine.js';
import { type SprintRunMode, sprintRunStatus } from '../machines/sprint-run.machine.js';
import { sprintStatus } from '../machines/sprint.machine.js';
import { providerStatus } from '../machines/provider.machine.js';
import { stepStatus } from '../machines/step.machine.js';
import { storyStatus } from '../machines/story.machine.js';
import { taskStatus } from '../machines/task.machine.js';
import { defineSpelling, type Spelling } from '../util/define-spelling.js';

export { claudeJobStatus, ideaStatus, pbiStatus, providerStatus, sprintRunStatus, sprintStatus, stepStatus, storyStatus, taskStatus };

export const jobKind = defineSpelling(API_SPELLING_OF_KIND);

export const sprintRunMode = defineSpelling({
  PER_TASK: 'per_task',
  SPRINT_BATCH: 'sprint_batch',
} as const satisfies Record<SprintRunMode, string>);

/** A question an agent asked (src/jobs/job-questions.ts): no machine, as it only ever leaves OPEN once. */
export const questionStatus = defineSpelling({
  OPEN: 'open',
  ANSWERED: 'answered',
  CLOSED: 'closed',
} as const satisfies Record<JobQuestionStatus, string>);

export const entityType = defineSpelling({
  PBI: 'pbi',
  STORY: 'story',
  TASK: 'task',
  SPRINT: 'sprint',
  SPRINT_RUN: 'sprint_run',
  CLAUDE_JOB: 'job',
  IDEA: 'idea',
  STEP: 'step',
  PROVIDER: 'provider',
} as const satisfies Record<EntityType, string>);

/** The status spelling of each entity's machine. */
export const STATUS_SPELLING = {
  PBI: pbiStatus,
  STORY: storyStatus,
  TASK: taskStatus,
  SPRINT: sprintStatus,
  SPRINT_RUN: sprintRunStatus,
  CLAUDE_JOB: claudeJobStatus,
  IDEA: ideaStatus,
  STEP: stepStatus,
  PROVIDER: providerStatus,
} as const satisfies Record<EntityType, Spelling<string, string>>;

/** Every status an event may go `to`, in API spelling, once each (a job's `done`, an idea's `grilled`, ...). */
export const EVENT_STATUSES: readonly string[] = Object.freeze(
  [...new Set(Object.values(STATUS_SPELLING).flatMap((spelling) => spelling.apiValues))].sort(),
);
