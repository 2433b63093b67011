/**
 * The job list's filters on a subject (idea, task, sprint run) and on the statuses few jobs end
 * in, and an owner's list, find exactly their jobs, through the indexes that keep them cheap
 * among many others: a task job of a per-task sprint run is found both by its task and by its run.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listJobs } from '../../src/jobs/claude-job.repository.js';
import { createIdeas, createProduct, createSprintRuns, createTasks } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let jobs: { id: string; kind: string; idea_id: string | null; task_id: string | null; sprint_run_id: string | null; status: string }[];
let ideas: string[];
let tasks: string[];
let runs: string[];

beforeAll(async () => {
  env = await createTestEnv();
  const db = env.database.db;
  const product = await createProduct(db, 'owner-a');
  ideas = await createIdeas(db, product, 2);
  tasks = await createTasks(db, product, 2);
  runs = await createSprintRuns(db, product, 2);
  const base = { product_id: product, owner_id: 'owner-a' };
  await db
    .insertInto('claude_jobs')
    .values([
      { ...base, kind: 'IDEA_GRILL', idea_id: ideas[0]! },
      { ...base, kind: 'PLAN_CHAT', idea_id: ideas[0]!, status: 'CANCELLED' },
      { ...base, kind: 'PLAN_CHAT', idea_id: ideas[1]!, status: 'SKIPPED' },
      { ...base, kind: 'TASK_IMPLEMENTATION', task_id: tasks[0]! },
      { ...base, kind: 'TASK_IMPLEMENTATION', task_id: tasks[1]!, sprint_run_id: runs[0]!, status: 'DONE' },
      { ...base, kind: 'SPRINT_IMPLEMENTATION', sprint_run_id: runs[0]! },
      { ...base, kind: 'SPRINT_IMPLEMENTATION', sprint_run_id: runs[1]!, status: 'CANCELLED' },
    ] as never)
    .execute();
  jobs = await db.selectFrom('claude_jobs').select(['id', 'kind', 'idea_id', 'task_id', 'sprint_run_id', 'status']).execute();
});
afterAll(async () => {
  await env.teardown();
});

const ids = (rows: { id: string }[]) => rows.map((row) => row.id).sort();
const list = async (filters: Parameters<typeof listJobs>[1]) => ids((await listJobs(env.database.db, filters, { limit: 50 })).items);

describe('the job list', () => {
  it('finds the jobs of an idea, a task or a sprint run, and no other', async () => {
    for (const idea of ideas) expect(await list({ idea_id: idea })).toEqual(ids(jobs.filter((job) => job.idea_id === idea)));
    for (const task of tasks) expect(await list({ task_id: task })).toEqual(ids(jobs.filter((job) => job.task_id === task)));
    for (const run of runs) expect(await list({ sprint_run_id: run })).toEqual(ids(jobs.filter((job) => job.sprint_run_id === run)));
    expect(await list({ sprint_run_id: runs[0]! })).toHaveLength(2);
  });

  it('finds the cancelled and skipped jobs, with or without other statuses', async () => {
    for (const status of [['CANCELLED'], ['SKIPPED'], ['CANCELLED', 'SKIPPED'], ['CANCELLED', 'QUEUED']] as const) {
      expect(await list({ status: [...status] })).toEqual(ids(jobs.filter((job) => (status as readonly string[]).includes(job.status))));
    }
  });

  it("finds an owner's jobs across their products, and none for an owner without products", async () => {
    const db = env.database.db;
    const second = await createProduct(db, 'owner-a', 'Second');
    const other = await createProduct(db, 'owner-b', 'Theirs');
    const [mine, theirs] = [await createIdeas(db, second, 1), await createIdeas(db, other, 1)];
    await db
      .insertInto('claude_jobs')
      .values([
        { kind: 'IDEA_GRILL', idea_id: mine[0]!, product_id: second, owner_id: 'owner-a' },
        { kind: 'IDEA_GRILL', idea_id: theirs[0]!, product_id: other, owner_id: 'owner-b' },
      ] as never)
      .execute();
    const all = await db.selectFrom('claude_jobs').select(['id', 'owner_id']).execute();
    expect(await list({ ownerId: 'owner-a' })).toEqual(ids(all.filter((job) => job.owner_id === 'owner-a')));
    expect(await list({ ownerId: 'owner-b' })).toEqual(ids(all.filter((job) => job.owner_id === 'owner-b')));
    expect(await list({ ownerId: 'owner-b', idea_id: mine[0]! })).toEqual([]);
    expect(await list({ ownerId: 'nobody' })).toEqual([]);
  });

  it('reads the lists of few jobs through their indexes', async () => {
    // A handful of rows: a sequential scan would win on cost, so plans are asked without it, in
    // one transaction (the setting is that connection's).
    await env.database.db.transaction().execute(async (trx) => {
      await sql`SET LOCAL enable_seqscan = off`.execute(trx);
      const plan = async (where: ReturnType<typeof sql>) =>
        (
          await sql<{
            'QUERY PLAN': string;
          }>`EXPLAIN SELECT * FROM claude_jobs WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT 51`.execute(trx)
        ).rows
          .map((row) => row['QUERY PLAN'])
          .join('\n');
      expect(await plan(sql`sprint_run_id = ${runs[0]!}::uuid`)).toContain('claude_jobs_sprint_run_idx');
      expect(await plan(sql`status IN ('CANCELLED')`)).toContain('claude_jobs_dropped_idx');
    });
  });
});
