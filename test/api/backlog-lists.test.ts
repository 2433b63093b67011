/**
 * The backlog lists answer what they answered when an owner's rows were found through the
 * ownership chain (EXISTS ... JOIN products WHERE owner_id): newest first by (created_at, id),
 * pages that neither skip nor repeat rows created in the same microsecond, an owner's rows only
 * (over several products, through parents for stories, tasks, runs and steps), and the filters.
 * Then, on a table with enough rows for the planner to care, a page is read through an index in
 * page order: the rows a page reads are bounded by the page, not by the table.
 */
import { Kysely, PostgresDialect, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listVisibleRows, type TABLE_OF } from '../../src/backlog/backlog-rows.js';
import { PARENTS_AS_CONSTANTS } from '../../src/backlog/owner-scope.js';
import { ownershipChain } from '../../src/backlog/ownership.js';
import pg from 'pg';
import { withDefaultUser } from '../../src/db/connection-string.js';
import type { Database, Db } from '../../src/db/database.js';
import { ideaStatus, stepStatus, taskStatus } from '../../src/spelling/api-spelling.js';
import { type ApiHarness, createApiHarness } from '../helpers/api-harness.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let api: ApiHarness;
let db: Db;
const tokens: Record<string, string> = {};

/** Rows of every table under each product, created in three distinct microseconds (many ties). */
async function seed(owner: string, products: number) {
  for (let p = 0; p < products; p++) {
    await sql`
      WITH pr AS (INSERT INTO products (owner_id, name) VALUES (${owner}, 'P') RETURNING id),
      at AS (SELECT timestamptz '2026-01-01' + (g % 3) * interval '1 microsecond' AS c, g FROM generate_series(1, 7) g),
      i AS (INSERT INTO ideas (product_id, title, status, created_at)
        SELECT pr.id, 'I', CASE WHEN g % 3 = 0 THEN 'PLANNED' ELSE 'DRAFT' END, c FROM pr, at),
      b AS (INSERT INTO pbis (product_id, title, status, created_at) SELECT pr.id, 'B', 'READY', c FROM pr, at WHERE g <= 2 RETURNING id, created_at),
      s AS (INSERT INTO stories (pbi_id, title, created_at) SELECT b.id, 'S', b.created_at FROM b, generate_series(1, 2) RETURNING id, created_at),
      t AS (INSERT INTO tasks (story_id, title, status, created_at)
        SELECT s.id, 'T', CASE WHEN g = 3 THEN 'DONE' ELSE 'TO_DO' END, at.c FROM s, at WHERE g <= 3),
      sp AS (INSERT INTO sprints (product_id, name, created_at) SELECT pr.id, 'Sp', c FROM pr, at WHERE g <= 2 RETURNING id, created_at),
      r AS (INSERT INTO sprint_runs (sprint_id, mode, status, created_at) SELECT sp.id, 'PER_TASK', 'DONE', sp.created_at FROM sp RETURNING id)
      INSERT INTO steps (sprint_run_id, position, name, status, created_at)
        SELECT r.id, g, 'St', CASE WHEN g = 1 THEN 'COMPLETED' ELSE 'PENDING' END, at.c FROM r, at WHERE g <= 3
    `.execute(db);
  }
}

beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  db = env.database.db;
  await seed('owner-a', 2);
  await seed('owner-b', 1);
  for (const owner of ['owner-a', 'owner-b', 'owner-c']) tokens[owner] = await api.token(['read'], owner);
});
afterAll(async () => {
  await api.close();
  await env.teardown();
});

type Listed = keyof typeof TABLE_OF;
const PATHS: Record<Exclude<Listed, 'PRODUCT'>, string> = {
  IDEA: 'ideas',
  PBI: 'pbis',
  STORY: 'stories',
  TASK: 'tasks',
  SPRINT: 'sprints',
  SPRINT_RUN: 'sprint-runs',
  STEP: 'steps',
};

/** Every page of a list, 2 rows at a time, as the caller (owner, or admin when null). */
async function allPages(path: string, query: string, owner: string | null): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const reply = await api.call(
      'GET',
      `/api/v1/${path}?limit=2${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      undefined,
      {
        ...(owner ? { authorization: `Bearer ${tokens[owner]}` } : {}),
      },
    );
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    ids.push(...reply.body.items.map((item: { id: string }) => item.id));
    cursor = reply.body.next_cursor;
    if (!cursor) return ids;
  }
  throw new Error(`${path} did not end in 100 pages`);
}

/** The list as the ownership chain defines it, in page order. */
async function expected(entity: Listed, owner: string | null, where = sql`TRUE`): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    SELECT x.id FROM ${sql.raw(ownershipChain(entity))}
    WHERE (${owner}::text IS NULL OR p.owner_id = ${owner}) AND ${where}
    ORDER BY x.created_at DESC, x.id DESC
  `.execute(db);
  return rows.map((row) => row.id);
}

describe('backlog lists', () => {
  for (const [entity, path] of Object.entries(PATHS) as [Exclude<Listed, 'PRODUCT'>, string][]) {
    for (const owner of [null, 'owner-a', 'owner-b', 'owner-c']) {
      it(`GET /${path} as ${owner ?? 'an admin'} pages through exactly the rows it may see, newest first, ties by id`, async () => {
        const want = await expected(entity, owner);
        expect(want.length > 0).toBe(owner !== 'owner-c');
        expect(await allPages(path, '', owner)).toEqual(want);
      });
    }
  }

  it('GET /ideas filters by status and by product, within an owner', async () => {
    const planned = ideaStatus.toApi('PLANNED');
    expect(await allPages('ideas', `&status=${planned}`, 'owner-a')).toEqual(await expected('IDEA', 'owner-a', sql`x.status = 'PLANNED'`));
    expect(await allPages('ideas', `&status=${planned},${ideaStatus.toApi('DRAFT')}`, null)).toEqual(await expected('IDEA', null));
    const [{ id: productB }] = (await sql<{ id: string }>`SELECT id FROM products WHERE owner_id = 'owner-b'`.execute(db)).rows as [
      { id: string },
    ];
    expect(await allPages('ideas', `&product_id=${productB}`, null)).toEqual(await expected('IDEA', 'owner-b'));
    // Another owner's product filters to nothing rather than showing its rows.
    expect(await allPages('ideas', `&product_id=${productB}`, 'owner-a')).toEqual([]);
  });

  it('GET /tasks and /steps filter by status and parent, within an owner', async () => {
    expect(await allPages('tasks', `&status=${taskStatus.toApi('DONE')}`, 'owner-b')).toEqual(
      await expected('TASK', 'owner-b', sql`x.status = 'DONE'`),
    );
    const [{ id: storyA }] = (
      await sql<{
        id: string;
      }>`SELECT s.id FROM stories s JOIN pbis b ON b.id = s.pbi_id JOIN products p ON p.id = b.product_id WHERE p.owner_id = 'owner-a' LIMIT 1`.execute(
        db,
      )
    ).rows as [{ id: string }];
    expect(await allPages('tasks', `&story_id=${storyA}`, 'owner-a')).toEqual(
      await expected('TASK', 'owner-a', sql`x.story_id = ${storyA}`),
    );
    expect(await allPages('tasks', `&story_id=${storyA}`, 'owner-b')).toEqual([]);
    expect(await allPages('steps', `&status=${stepStatus.toApi('COMPLETED')}`, 'owner-a')).toEqual(
      await expected('STEP', 'owner-a', sql`x.status = 'COMPLETED'`),
    );
  });
});

/** The plan of the list statement `run` sends (its last statement), executed. */
async function planOf(run: (logged: Db) => Promise<unknown>): Promise<PlanNode> {
  const statements: { sql: string; parameters: readonly unknown[] }[] = [];
  const pool = new pg.Pool({ connectionString: withDefaultUser(env.database.url), max: 1 });
  const logged = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    log: (event) => {
      if (event.level === 'query') statements.push({ sql: event.query.sql, parameters: event.query.parameters });
    },
  });
  try {
    await run(logged);
    const last = statements.at(-1)!;
    const { rows } = await pool.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${last.sql}`, last.parameters as unknown[]);
    return (rows[0]['QUERY PLAN'] as [{ Plan: PlanNode }])[0].Plan;
  } finally {
    await logged.destroy();
  }
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

const nodesOf = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodesOf)];
/** Rows the plan read from `table` (returned or filtered out), over every loop. */
const rowsReadFrom = (plan: PlanNode, table: string) =>
  nodesOf(plan)
    .filter((node) => node['Relation Name'] === table)
    .reduce((sum, node) => sum + (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0)) * node['Actual Loops'], 0);

describe('a page of a long backlog', () => {
  const PAGE = 20;
  beforeAll(async () => {
    // 20,000 ideas and 20,020 tasks (under more stories than PARENTS_AS_CONSTANTS) for owner-big's
    // one product, 5 of each for owner-few, and ANALYZE.
    await sql`
      WITH pr AS (INSERT INTO products (owner_id, name) VALUES ('owner-big', 'Big') RETURNING id),
      i AS (INSERT INTO ideas (product_id, title, status, created_at)
        SELECT pr.id, 'I', 'PLANNED', timestamptz '2026-02-01' + g * interval '1 second' FROM pr, generate_series(1, 20000) g),
      b AS (INSERT INTO pbis (product_id, title) SELECT id, 'B' FROM pr RETURNING id),
      s AS (INSERT INTO stories (pbi_id, title) SELECT b.id, 'S' FROM b, generate_series(1, 1001) RETURNING id)
      INSERT INTO tasks (story_id, title, status, created_at)
        SELECT s.id, 'T', 'DONE', timestamptz '2026-02-01' + random() * interval '30 days' FROM s, generate_series(1, 20)
    `.execute(db);
    await sql`
      WITH pr AS (INSERT INTO products (owner_id, name) VALUES ('owner-few', 'Few') RETURNING id),
      i AS (INSERT INTO ideas (product_id, title, created_at) SELECT pr.id, 'I', timestamptz '2025-01-01' + g * interval '1 hour' FROM pr, generate_series(1, 5) g),
      b AS (INSERT INTO pbis (product_id, title) SELECT id, 'B' FROM pr RETURNING id),
      s AS (INSERT INTO stories (pbi_id, title) SELECT b.id, 'S' FROM b RETURNING id)
      INSERT INTO tasks (story_id, title, created_at) SELECT s.id, 'T', timestamptz '2025-01-01' + g * interval '1 hour' FROM s, generate_series(1, 5) g
    `.execute(db);
    await sql`ANALYZE`.execute(db);
  });

  const cases: [string, Listed, string, Parameters<typeof listVisibleRows>[2]][] = [
    ['every idea (admin)', 'IDEA', 'ideas', { ownerId: null, page: { limit: PAGE } }],
    ['an idea status (rare: only the seeded DRAFT ones)', 'IDEA', 'ideas', { ownerId: null, statuses: ['DRAFT'], page: { limit: PAGE } }],
    ["a big owner's ideas", 'IDEA', 'ideas', { ownerId: 'owner-big', page: { limit: PAGE } }],
    ["a small owner's ideas", 'IDEA', 'ideas', { ownerId: 'owner-few', page: { limit: PAGE } }],
    ['every task (admin)', 'TASK', 'tasks', { ownerId: null, page: { limit: PAGE } }],
    ['a task status (rare)', 'TASK', 'tasks', { ownerId: null, statuses: ['IN_PROGRESS'], page: { limit: PAGE } }],
    ["a big owner's tasks", 'TASK', 'tasks', { ownerId: 'owner-big', page: { limit: PAGE } }],
    ["a small owner's tasks", 'TASK', 'tasks', { ownerId: 'owner-few', page: { limit: PAGE } }],
  ];
  for (const [name, entity, table, options] of cases) {
    it(`${name}: one page reads a bounded number of ${table} rows through an index, not the table`, async () => {
      const plan = await planOf((logged) => listVisibleRows(logged, entity as 'IDEA', options));
      const nodes = nodesOf(plan);
      expect(nodes.filter((node) => node['Relation Name'] === table).map((node) => node['Node Type'])).not.toContain('Seq Scan');
      // A full sort is what an unindexed order costs; sorting a small owner's handful is fine.
      const read = rowsReadFrom(plan, table);
      expect(read, JSON.stringify(plan)).toBeLessThanOrEqual(40 * (PAGE + 1));
    });
  }

  it("a big owner's tasks (filtered through the join: more stories than PARENTS_AS_CONSTANTS) page as the chain says", async () => {
    const stories = await sql<{
      n: string;
    }>`SELECT count(*) AS n FROM stories s JOIN pbis b ON b.id = s.pbi_id JOIN products p ON p.id = b.product_id WHERE p.owner_id = 'owner-big'`.execute(
      db,
    );
    expect(Number(stories.rows[0]!.n)).toBeGreaterThan(PARENTS_AS_CONSTANTS);
    const first = await listVisibleRows(db, 'TASK', { ownerId: 'owner-big', page: { limit: PAGE } });
    const second = await listVisibleRows(db, 'TASK', { ownerId: 'owner-big', page: { limit: PAGE, after: first.next! } });
    expect([...first.items, ...second.items].map((row) => row.id)).toEqual((await expected('TASK', 'owner-big')).slice(0, 2 * PAGE));
  });

  it('a later page of every idea starts where the last ended, through the created index', async () => {
    const first = await listVisibleRows(db, 'IDEA', { ownerId: null, page: { limit: PAGE } });
    const plan = await planOf((logged) => listVisibleRows(logged, 'IDEA', { ownerId: null, page: { limit: PAGE, after: first.next! } }));
    expect(nodesOf(plan).map((node) => node['Index Name'])).toContain('ideas_created_idx');
    expect(rowsReadFrom(plan, 'ideas')).toBeLessThanOrEqual(PAGE + 1);
  });
});
