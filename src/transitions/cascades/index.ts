/** The cascades of every entity, run by the door after each batch it applies. */
import type { Trx } from '../../db/database.js';
import type { EntityType } from '../../machines/index.js';
import type { AppliedTransition } from '../transition-types.js';
import type { Cascade, Door } from './cascade.js';
import { claudeJobCascade } from './claude-job.cascade.js';
import { sprintRunCascade } from './sprint-run.cascade.js';
import { storyCascade } from './story.cascade.js';
import { taskCascade } from './task.cascade.js';

const CASCADES: Partial<Record<EntityType, Cascade>> = {
  TASK: taskCascade,
  STORY: storyCascade,
  SPRINT_RUN: sprintRunCascade,
  CLAUDE_JOB: claudeJobCascade,
};

export async function runCascades(trx: Trx, changes: readonly AppliedTransition[], door: Door): Promise<void> {
  if (changes.length === 0) return;
  const cascade = CASCADES[changes[0]!.entity];
  if (cascade) await cascade(trx, changes, door);
}
