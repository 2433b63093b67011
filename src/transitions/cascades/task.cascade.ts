/**
 * What a task's change sets off:
 * - TO_DO -> IN_PROGRESS promotes an OPEN story to IN_SPRINT;
 * - DONE completes an IN_SPRINT story once all of its tasks are DONE;
 * - FAILED fails an IN_SPRINT story;
 * - inside a sprint run (context.sprintRunId): the task must belong to the run's sprint and the
 *   run must be live; DONE completes the run once every task of the sprint is DONE, FAILED
 *   fails the run.
 */
import type { Trx } from '../../db/database.js';
import type { Task } from '../../db/tables/task.table.js';
import { AppError } from '../../errors/app-error.js';
import { sprintRunMachine, storyMachine } from '../../machines/index.js';
import type { AppliedTransition } from '../transition-types.js';
import { type Cascade, type Door, inherited } from './cascade.js';

export const taskCascade: Cascade = async (trx, changes, door) => {
  const tasks = changes as readonly AppliedTransition<Task>[];
  // The stories this batch moves, locked at once in id order: one by one in the batch's task
  // order, two batches sharing stories could each hold one the other waits for (a deadlock).
  const stories = [...new Set(tasks.filter(movesStory).map((change) => change.row.story_id))].sort();
  if (stories.length > 1) await trx.selectFrom('stories').select('id').where('id', 'in', stories).orderBy('id').forUpdate().execute();
  for (const change of tasks) {
    const runId = change.context.sprintRunId;
    if (runId) await assertTaskInLiveRun(trx, change.row, runId);
    await cascadeToStory(trx, change, door);
    if (runId) await cascadeToRun(trx, change, runId, door);
  }
};

async function assertTaskInLiveRun(trx: Trx, task: Task, runId: string): Promise<void> {
  const run = await trx
    .selectFrom('sprint_runs')
    .select(['id', 'sprint_id', 'status'])
    .where('id', '=', runId)
    .forUpdate()
    .executeTakeFirst();
  if (!run) throw new AppError('not_found', `sprint run ${runId} does not exist`, { sprintRunId: runId });
  if (task.sprint_id !== run.sprint_id) {
    throw new AppError('forbidden', `task ${task.id} is not part of sprint run ${runId}`, {
      taskId: task.id,
      sprintRunId: runId,
    });
  }
  if (run.status !== 'RUNNING' && run.status !== 'PAUSED') {
    throw new AppError('status_conflict', `sprint run ${runId} is ${run.status}; its tasks can no longer be moved by it`, {
      sprintRunId: runId,
      current: run.status,
    });
  }
}

/** Whether the task's change may move its story: started, done or failed. */
function movesStory(change: AppliedTransition<Task>): boolean {
  return (change.from === 'TO_DO' && change.to === 'IN_PROGRESS') || change.to === 'DONE' || change.to === 'FAILED';
}

async function cascadeToStory(trx: Trx, change: AppliedTransition<Task>, door: Door): Promise<void> {
  const task = change.row;
  const promotes = change.from === 'TO_DO' && change.to === 'IN_PROGRESS';
  if (!movesStory(change)) return;

  // Lock the parent before reading its children: two sibling tasks finishing at once serialise
  // here, so the second one sees the first one DONE and promotes the story.
  const story = await trx
    .selectFrom('stories')
    .select(['id', 'status'])
    .where('id', '=', task.story_id)
    .forUpdate()
    .executeTakeFirstOrThrow();

  if (promotes && story.status === 'OPEN') {
    await door.transition(trx, storyMachine, {
      id: story.id,
      from: 'OPEN',
      to: 'IN_SPRINT',
      trigger: 'task_started',
      context: inherited(change, `task ${task.id} started`),
    });
  } else if (change.to === 'FAILED' && story.status === 'IN_SPRINT') {
    await door.transition(trx, storyMachine, {
      id: story.id,
      from: 'IN_SPRINT',
      to: 'FAILED',
      trigger: 'task_failed',
      context: inherited(change, `task ${task.id} failed`),
    });
  } else if (change.to === 'DONE' && story.status === 'IN_SPRINT') {
    const open = await trx
      .selectFrom('tasks')
      .select(({ fn }) => fn.countAll<string>().as('count'))
      .where('story_id', '=', story.id)
      .where('status', '<>', 'DONE')
      .executeTakeFirstOrThrow();
    if (Number(open.count) === 0) {
      await door.transition(trx, storyMachine, {
        id: story.id,
        from: 'IN_SPRINT',
        to: 'DONE',
        trigger: 'all_tasks_done',
        context: inherited(change, `every task of story ${story.id} is done`),
      });
    }
  }
}

async function cascadeToRun(trx: Trx, change: AppliedTransition<Task>, runId: string, door: Door): Promise<void> {
  const task = change.row;
  const run = await trx.selectFrom('sprint_runs').select(['id', 'status']).where('id', '=', runId).executeTakeFirstOrThrow();
  if (run.status !== 'RUNNING' && run.status !== 'PAUSED') return;

  if (change.to === 'FAILED') {
    await door.transition(trx, sprintRunMachine, {
      id: run.id,
      from: run.status,
      to: 'FAILED',
      trigger: 'step_failed',
      set: { error: `task ${task.id} failed`, finished_at: new Date().toISOString() },
      context: inherited(change, `task ${task.id} failed`),
    });
  } else if (change.to === 'DONE') {
    const open = await trx
      .selectFrom('tasks')
      .select(({ fn }) => fn.countAll<string>().as('count'))
      .where('sprint_id', '=', task.sprint_id)
      .where('status', '<>', 'DONE')
      .executeTakeFirstOrThrow();
    if (Number(open.count) === 0) {
      await door.transition(trx, sprintRunMachine, {
        id: run.id,
        from: run.status,
        to: 'DONE',
        trigger: 'all_tasks_done',
        set: { finished_at: new Date().toISOString() },
        context: inherited(change, `every task of sprint run ${run.id} is done`),
      });
    }
  }
}
