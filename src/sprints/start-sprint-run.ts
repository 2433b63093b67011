/**
 * Starting a sprint run: a pre-flight check that lists every reason the sprint cannot run, then,
 * in one transaction, the run (QUEUED), one step per unfinished task of the sprint in dependency
 * order, and the run's SPRINT_IMPLEMENTATION job.
 */
import type { Trx } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import type { SprintRun } from '../db/tables/sprint-run.table.js';
import type { Step } from '../db/tables/step.table.js';
import { AppError } from '../errors/app-error.js';
import { insertJobs } from '../jobs/enqueue-jobs.js';
import { MACHINES, type SprintRunMode } from '../machines/index.js';
import { topologicalOrder } from '../backlog/topological-order.js';
import { createEntities, createEntity } from '../transitions/index.js';

export interface StartedRun {
  run: SprintRun;
  steps: Step[];
  job: ClaudeJob;
}

export async function startSprintRun(trx: Trx, sprintId: string, mode: SprintRunMode, actorTokenId: string | null): Promise<StartedRun> {
  const sprint = await trx.selectFrom('sprints').selectAll().where('id', '=', sprintId).forUpdate().executeTakeFirstOrThrow();
  const tasks = await trx
    .selectFrom('tasks')
    .innerJoin('stories', 'stories.id', 'tasks.story_id')
    .innerJoin('pbis', 'pbis.id', 'stories.pbi_id')
    .select([
      'tasks.id',
      'tasks.title',
      'tasks.status',
      'tasks.implementation_plan',
      'pbis.id as pbi_id',
      'pbis.title as pbi_title',
      'pbis.status as pbi_status',
    ])
    .where('tasks.sprint_id', '=', sprintId)
    .orderBy('pbis.priority', 'desc')
    .orderBy('pbis.sort_order')
    .orderBy('stories.sort_order')
    .orderBy('tasks.sort_order')
    .orderBy('tasks.created_at')
    .execute();
  const active = await trx
    .selectFrom('sprint_runs')
    .select(['id', 'status'])
    .where('sprint_id', '=', sprintId)
    .where('status', 'in', ['QUEUED', 'RUNNING', 'PAUSED'])
    .executeTakeFirst();
  const toRun = tasks.filter((task) => task.status !== 'DONE');
  const edges = await trx
    .selectFrom('task_dependencies as d')
    .innerJoin('tasks as t', 't.id', 'd.depends_on_task_id')
    .select([
      'd.task_id',
      'd.depends_on_task_id',
      't.status as dependency_status',
      't.sprint_id as dependency_sprint',
      't.title as dependency_title',
    ])
    .where('d.task_id', 'in', toRun.length ? toRun.map((task) => task.id) : ['00000000-0000-0000-0000-000000000000'])
    .execute();

  const reasons: string[] = [];
  if (sprint.status !== 'ACTIVE') reasons.push(`the sprint is ${sprint.status.toLowerCase()}`);
  if (active) reasons.push(`run ${active.id} of this sprint is already ${active.status.toLowerCase()}`);
  if (tasks.length === 0) reasons.push('the sprint has no tasks');
  else if (toRun.length === 0) reasons.push('every task of the sprint is already done');
  for (const task of toRun) {
    if (!task.implementation_plan?.trim()) reasons.push(`task ${task.id} ("${task.title}") has no implementation plan`);
    if (task.status === 'FAILED') reasons.push(`task ${task.id} ("${task.title}") has failed`);
  }
  const badPbis = new Map(
    toRun.filter((task) => task.pbi_status === 'BLOCKED' || task.pbi_status === 'FAILED').map((task) => [task.pbi_id, task]),
  );
  for (const [pbiId, task] of badPbis) reasons.push(`PBI ${pbiId} ("${task.pbi_title}") is ${task.pbi_status.toLowerCase()}`);
  const inRun = new Set(toRun.map((task) => task.id));
  for (const edge of edges) {
    if (!inRun.has(edge.depends_on_task_id) && edge.dependency_status !== 'DONE') {
      reasons.push(
        `task ${edge.task_id} depends on task ${edge.depends_on_task_id} ("${edge.dependency_title}"), which is neither done nor in this sprint`,
      );
    }
  }
  const internal = edges
    .filter((edge) => inRun.has(edge.depends_on_task_id))
    .map((edge) => [edge.task_id, edge.depends_on_task_id] as const);
  const order = topologicalOrder(
    toRun.map((task) => task.id),
    internal,
  );
  if (!order.ok) reasons.push(`the tasks ${order.cycle.join(' -> ')} depend on each other in a cycle`);
  if (reasons.length) {
    throw new AppError('validation_failed', `the sprint cannot run: ${reasons.join('; ')}`, { reasons });
  }

  const context = { actorTokenId, reason: `${mode.toLowerCase()} run started` };
  const run = (await createEntity(trx, MACHINES.SPRINT_RUN, { sprint_id: sprintId, mode, created_by_token_id: actorTokenId }, context)).row;
  const byId = new Map(toRun.map((task) => [task.id, task]));
  const ordered = order.ok ? order.order : [];
  const steps = await createEntities(
    trx,
    MACHINES.STEP,
    ordered.map((taskId, position) => ({
      sprint_run_id: run.id,
      task_id: taskId,
      position,
      name: byId.get(taskId)!.title,
      metadata: JSON.stringify({ depends_on: internal.filter(([task]) => task === taskId).map(([, dependency]) => dependency) }),
    })),
    context,
  );
  const { created } = await insertJobs(trx, [{ kind: 'SPRINT_IMPLEMENTATION', subjectId: run.id }], { actorTokenId });
  return { run, steps: steps.map((step) => step.row), job: created[0]! };
}
