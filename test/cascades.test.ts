import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Trx } from '../src/db/database.js';
import { isAppError } from '../src/errors/app-error.js';
import { MACHINES } from '../src/machines/index.js';
import { ownershipOf } from '../src/backlog/ownership.js';
import { createEntity, transition } from '../src/transitions/index.js';
import * as make from './helpers/fixtures.js';
import { historyCount, inTrx, statusOf } from './helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-database.js';

let test: TestDatabase;
beforeAll(async () => {
  test = await createTestDatabase();
});
afterAll(async () => {
  await test.drop();
});

/** A product with one PBI, one sprint, `stories` stories in it and `tasks` tasks per story. */
async function tree(trx: Trx, shape: { stories?: number; tasks?: number } = {}) {
  const p = await make.product(trx);
  const pbi = await make.pbi(trx, p.id);
  const sprint = await make.sprint(trx, p.id);
  const stories = [];
  for (let s = 0; s < (shape.stories ?? 1); s += 1) {
    const story = await make.story(trx, pbi.id, sprint.id);
    await transition(trx, MACHINES.STORY, { id: story.id, from: 'OPEN', to: 'IN_SPRINT', trigger: 'added_to_sprint' });
    const tasks = [];
    for (let t = 0; t < (shape.tasks ?? 1); t += 1) tasks.push(await make.task(trx, story.id, sprint.id));
    stories.push({ ...story, tasks });
  }
  return { product: p, pbi, sprint, stories };
}

async function moveTask(trx: Trx, id: string, path: string[], sprintRunId?: string) {
  for (let i = 0; i + 1 < path.length; i += 1) {
    const trigger = MACHINES.TASK.rulesFor(path[i] as never, path[i + 1] as never).find((r) => r.by === 'user')!.trigger;
    await transition(trx, MACHINES.TASK, {
      id,
      from: path[i] as never,
      to: path[i + 1] as never,
      trigger,
      context: sprintRunId ? { sprintRunId } : {},
    });
  }
}
const FINISH = ['TO_DO', 'IN_PROGRESS', 'REVIEW', 'DONE'];

describe('task to story to PBI', () => {
  it('promotes an OPEN story to IN_SPRINT when one of its tasks starts', async () => {
    const { story, task } = await inTrx(test.db, async (trx) => {
      const p = await make.product(trx);
      const story = await make.story(trx, (await make.pbi(trx, p.id)).id);
      return { story, task: await make.task(trx, story.id) };
    });
    await inTrx(test.db, (trx) => moveTask(trx, task.id, ['TO_DO', 'IN_PROGRESS']));
    expect(await statusOf(test.db, 'STORY', story.id)).toBe('IN_SPRINT');
    const last = await test.db
      .selectFrom('transitions')
      .selectAll()
      .where('entity_id', '=', story.id)
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow();
    expect(last).toMatchObject({ trigger: 'task_started', from_status: 'OPEN', to_status: 'IN_SPRINT' });
  });

  it('does not touch a story already IN_SPRINT when a task starts', async () => {
    const t = await inTrx(test.db, (trx) => tree(trx));
    const before = await historyCount(test.db, 'STORY', t.stories[0]!.id);
    await inTrx(test.db, (trx) => moveTask(trx, t.stories[0]!.tasks[0]!.id, ['TO_DO', 'IN_PROGRESS']));
    expect(await historyCount(test.db, 'STORY', t.stories[0]!.id)).toBe(before);
  });

  it('completes the story only when its last task is done, then the PBI when its last story is', async () => {
    const t = await inTrx(test.db, (trx) => tree(trx, { stories: 2, tasks: 2 }));
    const [first, second] = t.stories as [(typeof t.stories)[0], (typeof t.stories)[0]];

    await inTrx(test.db, (trx) => moveTask(trx, first.tasks[0]!.id, FINISH));
    expect(await statusOf(test.db, 'STORY', first.id)).toBe('IN_SPRINT');

    await inTrx(test.db, (trx) => moveTask(trx, first.tasks[1]!.id, FINISH));
    expect(await statusOf(test.db, 'STORY', first.id)).toBe('DONE');
    expect(await statusOf(test.db, 'PBI', t.pbi.id)).toBe('READY');

    await inTrx(test.db, async (trx) => {
      await moveTask(trx, second.tasks[0]!.id, FINISH);
      await moveTask(trx, second.tasks[1]!.id, FINISH);
    });
    expect(await statusOf(test.db, 'STORY', second.id)).toBe('DONE');
    expect(await statusOf(test.db, 'PBI', t.pbi.id)).toBe('DONE');
    const last = await test.db
      .selectFrom('transitions')
      .selectAll()
      .where('entity_id', '=', t.pbi.id)
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow();
    expect(last).toMatchObject({ trigger: 'all_stories_done', from_status: 'READY', to_status: 'DONE' });
  });

  it('never promotes a BLOCKED PBI, and promotes nothing twice', async () => {
    const t = await inTrx(test.db, (trx) => tree(trx));
    await inTrx(test.db, (trx) => transition(trx, MACHINES.PBI, { id: t.pbi.id, from: 'READY', to: 'BLOCKED' }));
    await inTrx(test.db, (trx) => moveTask(trx, t.stories[0]!.tasks[0]!.id, FINISH));
    expect(await statusOf(test.db, 'STORY', t.stories[0]!.id)).toBe('DONE');
    expect(await statusOf(test.db, 'PBI', t.pbi.id)).toBe('BLOCKED');
    expect(await historyCount(test.db, 'PBI', t.pbi.id)).toBe(2);
  });

  it('completes a story exactly once when its two last tasks finish in concurrent transactions', async () => {
    for (let round = 0; round < 5; round += 1) {
      const t = await inTrx(test.db, async (trx) => {
        const t = await tree(trx, { tasks: 2 });
        for (const task of t.stories[0]!.tasks) await moveTask(trx, task.id, ['TO_DO', 'IN_PROGRESS', 'REVIEW']);
        return t;
      });
      await Promise.all(t.stories[0]!.tasks.map((task) => inTrx(test.db, (trx) => moveTask(trx, task.id, ['REVIEW', 'DONE']))));
      expect(await statusOf(test.db, 'STORY', t.stories[0]!.id)).toBe('DONE');
      expect(await statusOf(test.db, 'PBI', t.pbi.id)).toBe('DONE');
      const storyDone = await test.db
        .selectFrom('transitions')
        .select('id')
        .where('entity_id', '=', t.stories[0]!.id)
        .where('to_status', '=', 'DONE')
        .execute();
      expect(storyDone).toHaveLength(1);
    }
  });

  it('fails an IN_SPRINT story when a task fails, but not its PBI', async () => {
    const t = await inTrx(test.db, (trx) => tree(trx, { tasks: 2 }));
    await inTrx(test.db, (trx) => moveTask(trx, t.stories[0]!.tasks[0]!.id, ['TO_DO', 'IN_PROGRESS', 'FAILED']));
    expect(await statusOf(test.db, 'STORY', t.stories[0]!.id)).toBe('FAILED');
    expect(await statusOf(test.db, 'PBI', t.pbi.id)).toBe('READY');
  });

  it('does not fail a story that has left its sprint (OPEN has no edge to FAILED)', async () => {
    const t = await inTrx(test.db, (trx) => tree(trx));
    const story = t.stories[0]!;
    await inTrx(test.db, async (trx) => {
      await moveTask(trx, story.tasks[0]!.id, ['TO_DO', 'IN_PROGRESS']);
      await transition(trx, MACHINES.STORY, { id: story.id, from: 'IN_SPRINT', to: 'OPEN', set: { sprint_id: null } });
      await moveTask(trx, story.tasks[0]!.id, ['IN_PROGRESS', 'FAILED']);
    });
    expect(await statusOf(test.db, 'STORY', story.id)).toBe('OPEN');
  });

  it("carries the story's sprint onto its tasks when it joins or leaves a sprint", async () => {
    const { story, task, sprint } = await inTrx(test.db, async (trx) => {
      const p = await make.product(trx);
      const story = await make.story(trx, (await make.pbi(trx, p.id)).id);
      return { story, task: await make.task(trx, story.id), sprint: await make.sprint(trx, p.id) };
    });
    const sprintOf = async () =>
      (await test.db.selectFrom('tasks').select('sprint_id').where('id', '=', task.id).executeTakeFirstOrThrow()).sprint_id;
    await inTrx(test.db, (trx) =>
      transition(trx, MACHINES.STORY, {
        id: story.id,
        from: 'OPEN',
        to: 'IN_SPRINT',
        trigger: 'added_to_sprint',
        set: { sprint_id: sprint.id },
      }),
    );
    expect(await sprintOf()).toBe(sprint.id);
    await inTrx(test.db, (trx) =>
      transition(trx, MACHINES.STORY, { id: story.id, from: 'IN_SPRINT', to: 'OPEN', set: { sprint_id: null } }),
    );
    expect(await sprintOf()).toBeNull();
  });
});

describe('jobs to their subjects', () => {
  async function ideaIn(trx: Trx, status: 'GRILLING' | 'PLANNING') {
    return make.rowIn(trx, 'IDEA', status);
  }
  async function job(trx: Trx, values: Omit<Parameters<typeof createEntity<typeof MACHINES.CLAUDE_JOB>>[2], 'product_id' | 'owner_id'>) {
    const entity = values.idea_id ? 'IDEA' : values.task_id ? 'TASK' : 'SPRINT_RUN';
    const subject = (values.idea_id ?? values.task_id ?? values.sprint_run_id)!;
    const { productId, ownerId } = (await ownershipOf(trx, entity, [subject])).get(subject)!;
    return (await createEntity(trx, MACHINES.CLAUDE_JOB, { ...values, product_id: productId, owner_id: ownerId })).row;
  }
  async function runJob(trx: Trx, id: string, end: 'DONE' | 'FAILED' | 'CANCELLED', context = {}) {
    await transition(trx, MACHINES.CLAUDE_JOB, { id, from: 'QUEUED', via: ['CLAIMED'], to: 'RUNNING' });
    await transition(trx, MACHINES.CLAUDE_JOB, {
      id,
      from: 'RUNNING',
      to: end,
      ...(end === 'FAILED' ? { trigger: 'agent_failed', set: { error: { message: 'agent crashed' } } } : {}),
      ...(end === 'CANCELLED' ? { trigger: 'user_cancels' } : {}),
      context,
    });
  }

  it.each([
    ['IDEA_GRILL', 'GRILLING', 'GRILL_FAILED', 'FAILED'],
    ['IDEA_GRILL', 'GRILLING', 'GRILL_FAILED', 'CANCELLED'],
    ['IDEA_MAKE_PLAN', 'PLANNING', 'PLAN_FAILED', 'FAILED'],
    ['IDEA_MAKE_PLAN', 'PLANNING', 'PLAN_FAILED', 'CANCELLED'],
  ] as const)('a %s job moves its idea from %s to %s when it ends %s', async (kind, from, to, end) => {
    const { idea, j } = await inTrx(test.db, async (trx) => {
      const idea = await ideaIn(trx, from);
      return { idea, j: await job(trx, { kind, idea_id: idea.id }) };
    });
    await inTrx(test.db, (trx) => runJob(trx, j.id, end));
    expect(await statusOf(test.db, 'IDEA', idea.id)).toBe(to);
    const logs = await test.db.selectFrom('idea_logs').selectAll().where('idea_id', '=', idea.id).execute();
    expect(logs).toEqual([expect.objectContaining({ type: 'JOB_EVENT', job_id: j.id })]);
  });

  it('leaves the idea alone while another job of the kind still works on it, or when the failure is retried', async () => {
    const { idea, first, second } = await inTrx(test.db, async (trx) => {
      const idea = await ideaIn(trx, 'GRILLING');
      return {
        idea,
        first: await job(trx, { kind: 'IDEA_GRILL', idea_id: idea.id }),
        second: await job(trx, { kind: 'IDEA_GRILL', idea_id: idea.id }),
      };
    });
    await inTrx(test.db, (trx) => runJob(trx, first.id, 'FAILED'));
    expect(await statusOf(test.db, 'IDEA', idea.id)).toBe('GRILLING');
    await inTrx(test.db, (trx) => runJob(trx, second.id, 'FAILED', { retriedAs: first.id }));
    expect(await statusOf(test.db, 'IDEA', idea.id)).toBe('GRILLING');
  });

  it("a finished job does not move its idea (results are the handler's business)", async () => {
    const { idea, j } = await inTrx(test.db, async (trx) => {
      const idea = await ideaIn(trx, 'GRILLING');
      return { idea, j: await job(trx, { kind: 'IDEA_GRILL', idea_id: idea.id }) };
    });
    await inTrx(test.db, (trx) => runJob(trx, j.id, 'DONE'));
    expect(await statusOf(test.db, 'IDEA', idea.id)).toBe('GRILLING');
  });

  it('a TASK_IMPLEMENTATION job starts its task and fails it (and its story) when it fails', async () => {
    const t = await inTrx(test.db, (trx) => tree(trx));
    const task = t.stories[0]!.tasks[0]!;
    const j = await inTrx(test.db, (trx) => job(trx, { kind: 'TASK_IMPLEMENTATION', task_id: task.id }));
    await inTrx(test.db, (trx) => transition(trx, MACHINES.CLAUDE_JOB, { id: j.id, from: 'QUEUED', via: ['CLAIMED'], to: 'RUNNING' }));
    expect(await statusOf(test.db, 'TASK', task.id)).toBe('IN_PROGRESS');
    await inTrx(test.db, (trx) =>
      transition(trx, MACHINES.CLAUDE_JOB, { id: j.id, from: 'RUNNING', to: 'FAILED', trigger: 'worker_lost' }),
    );
    expect(await statusOf(test.db, 'TASK', task.id)).toBe('FAILED');
    expect(await statusOf(test.db, 'STORY', t.stories[0]!.id)).toBe('FAILED');
  });

  it('a SPRINT_IMPLEMENTATION job starts its run; its failure fails the run, skips its steps and blocks the sprint', async () => {
    const { run, steps, sprint } = await inTrx(test.db, async (trx) => {
      const t = await tree(trx);
      const run = await make.sprintRun(trx, t.sprint.id);
      const steps = [await make.step(trx, run.id, 0), await make.step(trx, run.id, 1)];
      return { run, steps, sprint: t.sprint };
    });
    const j = await inTrx(test.db, (trx) => job(trx, { kind: 'SPRINT_IMPLEMENTATION', sprint_run_id: run.id }));
    await inTrx(test.db, async (trx) => {
      await transition(trx, MACHINES.CLAUDE_JOB, { id: j.id, from: 'QUEUED', via: ['CLAIMED'], to: 'RUNNING' });
      await transition(trx, MACHINES.STEP, { id: steps[0]!.id, from: 'PENDING', to: 'IN_PROGRESS' });
    });
    expect(await statusOf(test.db, 'SPRINT_RUN', run.id)).toBe('RUNNING');
    await inTrx(test.db, (trx) =>
      transition(trx, MACHINES.CLAUDE_JOB, { id: j.id, from: 'RUNNING', to: 'FAILED', trigger: 'worker_lost' }),
    );
    expect(await statusOf(test.db, 'SPRINT_RUN', run.id)).toBe('FAILED');
    expect(await statusOf(test.db, 'SPRINT', sprint.id)).toBe('FAILED');
    for (const s of steps) expect(await statusOf(test.db, 'STEP', s.id)).toBe('SKIPPED');
  });
});

describe('tasks inside a sprint run', () => {
  async function runningRun(shape: { tasks?: number } = {}) {
    return inTrx(test.db, async (trx) => {
      const t = await tree(trx, shape);
      const run = await make.sprintRun(trx, t.sprint.id);
      await transition(trx, MACHINES.SPRINT_RUN, { id: run.id, from: 'QUEUED', to: 'RUNNING' });
      return { ...t, run };
    });
  }

  it('completes the run when the last task of its sprint is done', async () => {
    const t = await runningRun({ tasks: 2 });
    const [a, b] = t.stories[0]!.tasks;
    await inTrx(test.db, (trx) => moveTask(trx, a!.id, FINISH, t.run.id));
    expect(await statusOf(test.db, 'SPRINT_RUN', t.run.id)).toBe('RUNNING');
    await inTrx(test.db, (trx) => moveTask(trx, b!.id, FINISH, t.run.id));
    expect(await statusOf(test.db, 'SPRINT_RUN', t.run.id)).toBe('DONE');
    expect(await statusOf(test.db, 'SPRINT', t.sprint.id)).toBe('ACTIVE');
  });

  it('fails the run and blocks the sprint when a task fails', async () => {
    const t = await runningRun({ tasks: 2 });
    await inTrx(test.db, (trx) => moveTask(trx, t.stories[0]!.tasks[0]!.id, ['TO_DO', 'IN_PROGRESS', 'FAILED'], t.run.id));
    expect(await statusOf(test.db, 'SPRINT_RUN', t.run.id)).toBe('FAILED');
    expect(await statusOf(test.db, 'SPRINT', t.sprint.id)).toBe('FAILED');
  });

  it('refuses a task of another sprint, writing nothing', async () => {
    const t = await runningRun();
    const other = await inTrx(test.db, (trx) => tree(trx));
    const task = other.stories[0]!.tasks[0]!;
    const error = await inTrx(test.db, (trx) => moveTask(trx, task.id, ['TO_DO', 'IN_PROGRESS'], t.run.id)).catch((e) => e);
    expect(isAppError(error, 'forbidden')).toBe(true);
    expect(await statusOf(test.db, 'TASK', task.id)).toBe('TO_DO');
    expect(await historyCount(test.db, 'TASK', task.id)).toBe(1);
  });

  it('refuses task moves on behalf of a run that has ended', async () => {
    const t = await runningRun({ tasks: 2 });
    await inTrx(test.db, (trx) => transition(trx, MACHINES.SPRINT_RUN, { id: t.run.id, from: 'RUNNING', to: 'CANCELLED' }));
    const task = t.stories[0]!.tasks[0]!;
    const error = await inTrx(test.db, (trx) => moveTask(trx, task.id, ['TO_DO', 'IN_PROGRESS'], t.run.id)).catch((e) => e);
    expect(isAppError(error, 'status_conflict')).toBe(true);
    expect(await statusOf(test.db, 'TASK', task.id)).toBe('TO_DO');
  });
});
