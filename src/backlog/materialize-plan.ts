/**
 * Materialize: a PLAN_READY idea's plan becomes PBIs, stories and tasks (with their dependencies)
 * in the idea's product, and the idea becomes PLANNED, all in one transaction: the backlog gets
 * the whole tree or nothing.
 */
import type { Trx } from '../db/database.js';
import type { Pbi } from '../db/tables/pbi.table.js';
import type { Story } from '../db/tables/story.table.js';
import type { Task } from '../db/tables/task.table.js';
import { AppError } from '../errors/app-error.js';
import { parsePlanMd } from './plan-format.js';
import { ideaMachine, MACHINES } from '../machines/index.js';
import { ideaStatus } from '../spelling/api-spelling.js';
import { createEntities, transition } from '../transitions/index.js';

export interface MaterializedTree {
  pbis: (Pbi & { stories: (Story & { tasks: Task[] })[] })[];
}

export async function materializePlan(trx: Trx, ideaId: string, actorTokenId: string | null): Promise<MaterializedTree> {
  const idea = await trx.selectFrom('ideas').selectAll().where('id', '=', ideaId).forUpdate().executeTakeFirstOrThrow();
  if (idea.status !== 'PLAN_READY') {
    throw new AppError(
      'status_conflict',
      `idea ${idea.id} is ${ideaStatus.toApi(idea.status)}; only a plan_ready idea can be materialized`,
      {
        current: ideaStatus.toApi(idea.status),
        allowed: ['plan_ready'],
      },
    );
  }
  const parsed = parsePlanMd(idea.plan_md ?? '');
  if (!parsed.ok)
    throw new AppError('status_conflict', `the idea's plan no longer parses: ${parsed.errors.join('; ')}`, { errors: parsed.errors });
  const context = { actorTokenId, reason: `materialized from idea ${idea.id}` };

  const pbis = await createEntities(
    trx,
    MACHINES.PBI,
    parsed.plan.pbis.map((pbi, i) => ({
      product_id: idea.product_id,
      title: pbi.title,
      description: pbi.description,
      priority: pbi.priority,
      sort_order: i,
    })),
    context,
  );
  const storyInputs = parsed.plan.pbis.flatMap((pbi, p) => pbi.stories.map((story, s) => ({ story, pbiId: pbis[p]!.row.id, order: s })));
  const stories = await createEntities(
    trx,
    MACHINES.STORY,
    storyInputs.map(({ story, pbiId, order }) => ({
      pbi_id: pbiId,
      title: story.title,
      description: story.description,
      sort_order: order,
    })),
    context,
  );
  const taskInputs = storyInputs.flatMap(({ story }, s) => story.tasks.map((task, t) => ({ task, storyId: stories[s]!.row.id, order: t })));
  const tasks = await createEntities(
    trx,
    MACHINES.TASK,
    taskInputs.map(({ task, storyId, order }) => ({
      story_id: storyId,
      title: task.title,
      description: task.description,
      implementation_plan: task.implementation_plan,
      sort_order: order,
    })),
    context,
  );

  const idOfKey = new Map(taskInputs.map(({ task }, i) => [task.key, tasks[i]!.row.id]));
  const dependencies = taskInputs.flatMap(({ task }) =>
    task.depends_on.map((key) => ({ task_id: idOfKey.get(task.key)!, depends_on_task_id: idOfKey.get(key)! })),
  );
  if (dependencies.length) await trx.insertInto('task_dependencies').values(dependencies).execute();

  await transition(trx, ideaMachine, {
    id: idea.id,
    from: 'PLAN_READY',
    to: 'PLANNED',
    context: { actorTokenId, reason: 'the plan was materialized', artifacts: { pbi_ids: pbis.map((pbi) => pbi.row.id) } },
  });

  return {
    pbis: pbis.map((pbi) => ({
      ...pbi.row,
      stories: stories
        .filter((story) => story.row.pbi_id === pbi.row.id)
        .map((story) => ({ ...story.row, tasks: tasks.filter((task) => task.row.story_id === story.row.id).map((task) => task.row) })),
    })),
  };
}
