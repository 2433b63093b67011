/**
 * The database/API spelling of every enum jobfleet exposes. Conversions happen only through
 * these tables; `satisfies Record<...>` makes a new status fail to compile until it is spelled.
 */
import type { ClaudeJobStatus } from '../machines/claude-job.machine.js';
import type { IdeaStatus } from '../machines/idea.machine.js';
import type { EntityType } from '../machines/index.js';
import type { PbiStatus } from '../machines/pbi.machine.js';
import type { SprintRunMode, SprintRunStatus } from '../machines/sprint-run.machine.js';
import type { SprintStatus } from '../machines/sprint.machine.js';
import type { StepStatus } from '../machines/step.machine.js';
import type { StoryStatus } from '../machines/story.machine.js';
import type { TaskStatus } from '../machines/task.machine.js';
import type { JobKind } from '../queues/job-kind.js';
import { defineSpelling, type Spelling } from './define-spelling.js';

export const pbiStatus = defineSpelling({
  READY: 'ready',
  BLOCKED: 'blocked',
  DONE: 'done',
  FAILED: 'failed',
} as const satisfies Record<PbiStatus, string>);

export const storyStatus = defineSpelling({
  OPEN: 'open',
  IN_SPRINT: 'in_sprint',
  DONE: 'done',
  FAILED: 'failed',
} as const satisfies Record<StoryStatus, string>);

export const taskStatus = defineSpelling({
  TO_DO: 'todo',
  IN_PROGRESS: 'in_progress',
  REVIEW: 'review',
  DONE: 'done',
  FAILED: 'failed',
} as const satisfies Record<TaskStatus, string>);

export const sprintStatus = defineSpelling({
  ACTIVE: 'active',
  COMPLETED: 'completed',
  FAILED: 'failed',
} as const satisfies Record<SprintStatus, string>);

export const sprintRunStatus = defineSpelling({
  QUEUED: 'queued',
  RUNNING: 'running',
  PAUSED: 'paused',
  DONE: 'done',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
} as const satisfies Record<SprintRunStatus, string>);

export const claudeJobStatus = defineSpelling({
  QUEUED: 'queued',
  CLAIMED: 'claimed',
  RUNNING: 'running',
  DONE: 'done',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  SKIPPED: 'skipped',
} as const satisfies Record<ClaudeJobStatus, string>);

export const ideaStatus = defineSpelling({
  DRAFT: 'draft',
  GRILLING: 'grilling',
  GRILL_FAILED: 'grill_failed',
  GRILLED: 'grilled',
  PLANNING: 'planning',
  PLAN_FAILED: 'plan_failed',
  PLAN_READY: 'plan_ready',
  PLANNED: 'planned',
} as const satisfies Record<IdeaStatus, string>);

export const stepStatus = defineSpelling({
  PENDING: 'pending',
  IN_PROGRESS: 'in_progress',
  COMPLETED: 'completed',
  FAILED: 'failed',
  SKIPPED: 'skipped',
} as const satisfies Record<StepStatus, string>);

export const jobKind = defineSpelling({
  TASK_IMPLEMENTATION: 'task_implementation',
  IDEA_GRILL: 'idea_grill',
  IDEA_MAKE_PLAN: 'idea_make_plan',
  PLAN_CHAT: 'plan_chat',
  SPRINT_IMPLEMENTATION: 'sprint_implementation',
} as const satisfies Record<JobKind, string>);

export const sprintRunMode = defineSpelling({
  PER_TASK: 'per_task',
  SPRINT_BATCH: 'sprint_batch',
} as const satisfies Record<SprintRunMode, string>);

export const entityType = defineSpelling({
  PBI: 'pbi',
  STORY: 'story',
  TASK: 'task',
  SPRINT: 'sprint',
  SPRINT_RUN: 'sprint_run',
  CLAUDE_JOB: 'job',
  IDEA: 'idea',
  STEP: 'step',
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
} as const satisfies Record<EntityType, Spelling<string, string>>;
