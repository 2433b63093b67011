/**
 * The cascades of every entity, run by the door after each batch it applies. The door's own
 * cascades know only machines and rows (a task's story, a story's PBI). What a job's change or a
 * run's end sets off depends on the job's kind and on sprint results, which live in the layers
 * above: those layers install their cascades here (src/kinds/index.ts does, when it loads).
 */
import type { Trx } from '../../db/database.js';
import type { EntityType } from '../../machines/index.js';
import type { AppliedTransition } from '../transition-types.js';
import type { Cascade, Door } from './cascade.js';
import { storyCascade } from './story.cascade.js';
import { taskCascade } from './task.cascade.js';

const OWN_CASCADES: Partial<Record<EntityType, Cascade>> = {
  TASK: taskCascade,
  STORY: storyCascade,
};

/** The cascades the layers above the door provide. */
export interface InstalledCascades {
  CLAUDE_JOB: Cascade;
  SPRINT_RUN: Cascade;
}

let installed: InstalledCascades | null = null;

export function installCascades(cascades: InstalledCascades): void {
  installed = cascades;
}

export async function runCascades(trx: Trx, changes: readonly AppliedTransition[], door: Door): Promise<void> {
  if (changes.length === 0) return;
  const entity = changes[0]!.entity;
  if (entity === 'CLAUDE_JOB' || entity === 'SPRINT_RUN') {
    // Skipping a job's or a run's effects would leave its subject behind without a trace: refuse.
    if (!installed) throw new Error(`the door moved a ${entity} before its cascades were installed (load src/kinds/index.ts first)`);
    await installed[entity](trx, changes, door);
    return;
  }
  const cascade = OWN_CASCADES[entity];
  if (cascade) await cascade(trx, changes, door);
}
