/**
 * Three worker processes share 1,000 dry-run jobs of every kind: each job is done exactly once,
 * with exactly its four history rows, and every subject got exactly its effect.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_KINDS } from '../../src/queues/kinds.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { createIdeas, createProduct, createSprintRuns, createTasks } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

const PER_KIND = 200;

let env: TestEnv;
let api: ApiHarness;
beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
});
afterAll(async () => {
  await killAll();
  await api.close();
  await env.teardown();
});

describe('a fleet of three worker processes', () => {
  it('does 1,000 jobs of every kind exactly once, with exactly the expected history', async () => {
    const db = env.database.db;
    const product = await createProduct(db);
    const [grillIdeas, planIdeas, chatIdeas, tasks, runs] = await Promise.all([
      createIdeas(db, product, PER_KIND, 'DRAFT'),
      createIdeas(db, product, PER_KIND, 'GRILLED'),
      createIdeas(db, product, PER_KIND, 'PLAN_READY'),
      createTasks(db, product, PER_KIND),
      createSprintRuns(db, product, PER_KIND),
    ]);
    const requests = [
      ...grillIdeas.map((idea_id) => ({ kind: 'idea_grill', idea_id })),
      ...planIdeas.map((idea_id) => ({ kind: 'idea_make_plan', idea_id })),
      ...chatIdeas.map((idea_id) => ({ kind: 'plan_chat', idea_id, payload: { message: 'Shorter, please.' } })),
      ...tasks.map((task_id) => ({ kind: 'task_implementation', task_id })),
      ...runs.map((sprint_run_id) => ({ kind: 'sprint_implementation', sprint_run_id })),
    ];
    expect(requests).toHaveLength(1000);

    const workers = [1, 2, 3].map(() => spawnJobfleet(['worker', '--concurrency', '20'], env.env));
    await Promise.all(workers.map((worker) => worker.line(/jobfleet worker \S+ running/)));

    const accepted = await api.call('POST', '/api/v1/jobs/batch', { jobs: requests });
    expect(accepted.status).toBe(202);
    expect(accepted.body.jobs).toHaveLength(1000);
    expect(new Set(accepted.body.jobs.map((j: { status: string }) => j.status))).toEqual(new Set(['queued']));

    await waitFor(
      'every job to finish',
      async () => {
        const open = await db
          .selectFrom('claude_jobs')
          .select('id')
          .where('status', 'not in', ['DONE', 'FAILED', 'CANCELLED', 'SKIPPED'])
          .limit(1)
          .execute();
        return open.length === 0;
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );

    const jobs = await db.selectFrom('claude_jobs').select(['id', 'kind', 'status', 'claimed_by_worker_id', 'attempt_count']).execute();
    expect(jobs).toHaveLength(1000);
    expect(jobs.filter((job) => job.status !== 'DONE')).toEqual([]);
    expect(jobs.every((job) => job.attempt_count === 1)).toBe(true);
    expect(new Set(jobs.map((job) => job.kind))).toEqual(new Set(JOB_KINDS));
    // The work was shared: every worker process did some of it.
    expect(new Set(jobs.map((job) => job.claimed_by_worker_id)).size).toBe(3);

    const history = await db
      .selectFrom('transitions')
      .select(['entity_id', 'from_status', 'to_status'])
      .where('entity_type', '=', 'CLAUDE_JOB')
      .orderBy('id')
      .execute();
    const byJob = new Map<string, string[]>();
    for (const row of history)
      byJob.set(row.entity_id, [...(byJob.get(row.entity_id) ?? []), `${row.from_status ?? '*'}>${row.to_status}`]);
    expect(byJob.size).toBe(1000);
    for (const [, rows] of byJob) expect(rows).toEqual(['*>QUEUED', 'QUEUED>CLAIMED', 'CLAIMED>RUNNING', 'RUNNING>DONE']);

    const statusCount = async (table: 'ideas' | 'tasks' | 'sprint_runs', ids: string[], status: string) =>
      (
        await db
          .selectFrom(table)
          .select('id')
          .where('id', 'in', ids)
          .where('status', '=', status as never)
          .execute()
      ).length;
    expect(await statusCount('ideas', grillIdeas, 'GRILLED')).toBe(PER_KIND);
    expect(await statusCount('ideas', planIdeas, 'PLAN_READY')).toBe(PER_KIND);
    expect(await statusCount('tasks', tasks, 'REVIEW')).toBe(PER_KIND);
    expect(await statusCount('sprint_runs', runs, 'DONE')).toBe(PER_KIND);

    const logs = await db.selectFrom('idea_logs').select(['idea_id', 'type']).execute();
    const count = (type: string) => logs.filter((log) => log.type === type).length;
    expect(count('GRILL_RESULT')).toBe(PER_KIND);
    expect(count('PLAN_RESULT')).toBe(PER_KIND);
    expect(count('CHAT_MESSAGE')).toBe(PER_KIND);
    expect(count('CHAT_REPLY')).toBe(PER_KIND);

    for (const worker of workers) worker.kill('SIGTERM');
    const exits = await Promise.all(workers.map((worker) => worker.exited));
    expect(exits.map((exit) => exit.code)).toEqual([0, 0, 0]);
  });
});
