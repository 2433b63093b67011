/** Where sprint runs stand: their steps counted by status, and the step each is on. */
import { sql } from 'kysely';
import type { Executor } from '../db/database.js';

export interface RunProgress {
  steps_total: number;
  steps_completed: number;
  steps_failed: number;
  steps_skipped: number;
  steps_in_progress: number;
  /** The first step in progress, else the next pending one; null when none is left. */
  current_step: { id: string; position: number; name: string; task_id: string | null; status: string } | null;
}

export async function runProgress(db: Executor, runIds: readonly string[]): Promise<Map<string, RunProgress>> {
  if (runIds.length === 0) return new Map();
  const counts = await db
    .selectFrom('steps')
    .select(['sprint_run_id', 'status'])
    .select(sql<string>`count(*)`.as('count'))
    .where('sprint_run_id', 'in', runIds)
    .groupBy(['sprint_run_id', 'status'])
    .execute();
  const current = await db
    .selectFrom('steps')
    .distinctOn('sprint_run_id')
    .select(['sprint_run_id', 'id', 'position', 'name', 'task_id', 'status'])
    .where('sprint_run_id', 'in', runIds)
    .where('status', 'in', ['IN_PROGRESS', 'PENDING'])
    .orderBy('sprint_run_id')
    .orderBy(sql`status = 'IN_PROGRESS'`, 'desc')
    .orderBy('position')
    .execute();

  const progress = new Map<string, RunProgress>(
    runIds.map((id) => [
      id,
      { steps_total: 0, steps_completed: 0, steps_failed: 0, steps_skipped: 0, steps_in_progress: 0, current_step: null },
    ]),
  );
  const field = {
    COMPLETED: 'steps_completed',
    FAILED: 'steps_failed',
    SKIPPED: 'steps_skipped',
    IN_PROGRESS: 'steps_in_progress',
  } as const;
  for (const row of counts) {
    const entry = progress.get(row.sprint_run_id)!;
    const n = Number(row.count);
    entry.steps_total += n;
    const key = field[row.status as keyof typeof field];
    if (key) entry[key] += n;
  }
  for (const step of current) {
    progress.get(step.sprint_run_id)!.current_step = {
      id: step.id,
      position: step.position,
      name: step.name,
      task_id: step.task_id,
      status: step.status.toLowerCase(),
    };
  }
  return progress;
}
