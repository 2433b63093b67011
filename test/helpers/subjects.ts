/**
 * Subjects for many jobs at once, created through the door in bulk: ideas in a given status,
 * tasks, and queued sprint runs (each on its own sprint, since a sprint has one active run).
 */
import type { Db } from '../../src/db/database.js';
import { MACHINES } from '../../src/machines/index.js';
import { createEntities, transitionMany } from '../../src/transitions/index.js';
import { pathTo } from './fixtures.js';

export async function createProduct(db: Db, owner = 'owner-a', name = 'Product'): Promise<string> {
  const { id } = await db.insertInto('products').values({ owner_id: owner, name }).returning('id').executeTakeFirstOrThrow();
  return id;
}

export async function createIdeas(
  db: Db,
  productId: string,
  count: number,
  status = 'DRAFT',
  prompt = 'An idea worth grilling.',
): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    const created = await createEntities(
      trx,
      MACHINES.IDEA,
      Array.from({ length: count }, (_, i) => ({ product_id: productId, title: `Idea ${i}`, prompt_text: prompt })),
    );
    const ids = created.map((c) => c.row.id);
    for (const rule of pathTo(MACHINES.IDEA, status)) {
      await transitionMany(
        trx,
        MACHINES.IDEA,
        ids.map((id) => ({ id, from: rule.from as never, to: rule.to as never, trigger: rule.trigger })),
      );
    }
    return ids;
  });
}

export async function createTasks(
  db: Db,
  productId: string,
  count: number,
  options: { stories?: number; plan?: string } = {},
): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    const [pbi] = await createEntities(trx, MACHINES.PBI, [{ product_id: productId, title: 'PBI' }]);
    const stories = await createEntities(
      trx,
      MACHINES.STORY,
      Array.from({ length: options.stories ?? Math.max(1, Math.ceil(count / 10)) }, (_, i) => ({
        pbi_id: pbi!.row.id,
        title: `Story ${i}`,
      })),
    );
    const tasks = await createEntities(
      trx,
      MACHINES.TASK,
      Array.from({ length: count }, (_, i) => ({
        story_id: stories[i % stories.length]!.row.id,
        title: `Task ${i}`,
        implementation_plan: options.plan ?? 'Do the thing.',
      })),
    );
    return tasks.map((t) => t.row.id);
  });
}

/** Queued sprint runs, each on a sprint of its own with `tasks` tasks and one step per task. */
export async function createSprintRuns(
  db: Db,
  productId: string,
  count: number,
  options: { tasks?: number; plan?: string } = {},
): Promise<string[]> {
  const tasksPerRun = options.tasks ?? 1;
  return db.transaction().execute(async (trx) => {
    const sprints = await createEntities(
      trx,
      MACHINES.SPRINT,
      Array.from({ length: count }, (_, i) => ({ product_id: productId, name: `Sprint ${i}` })),
    );
    const runs = await createEntities(
      trx,
      MACHINES.SPRINT_RUN,
      sprints.map((s) => ({ sprint_id: s.row.id, mode: 'SPRINT_BATCH' as const })),
    );
    if (tasksPerRun > 0) {
      const [pbi] = await createEntities(trx, MACHINES.PBI, [{ product_id: productId, title: 'Sprint PBI' }]);
      const stories = await createEntities(
        trx,
        MACHINES.STORY,
        sprints.map((s, i) => ({ pbi_id: pbi!.row.id, sprint_id: s.row.id, title: `Sprint story ${i}` })),
      );
      await transitionMany(
        trx,
        MACHINES.STORY,
        stories.map((s) => ({ id: s.row.id, from: 'OPEN' as const, to: 'IN_SPRINT' as const, trigger: 'added_to_sprint' })),
      );
      const tasks = await createEntities(
        trx,
        MACHINES.TASK,
        stories.flatMap((story, i) =>
          Array.from({ length: tasksPerRun }, (_, t) => ({
            story_id: story.row.id,
            sprint_id: sprints[i]!.row.id,
            title: `Sprint task ${t}`,
            implementation_plan: options.plan ?? 'Do the sprint thing.',
          })),
        ),
      );
      await createEntities(
        trx,
        MACHINES.STEP,
        tasks.map((task, index) => ({
          sprint_run_id: runs[Math.floor(index / tasksPerRun)]!.row.id,
          task_id: task.row.id,
          position: index % tasksPerRun,
          name: task.row.title,
        })),
      );
    }
    return runs.map((r) => r.row.id);
  });
}
