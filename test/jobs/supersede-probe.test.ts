/**
 * The supersede probe of an enqueue (jobfleet_queued_older, migration 0015) goes through the
 * queued index whatever the statistics say. The test database is never analyzed, so its
 * claude_jobs has no statistics, like a fresh fleet receiving a backlog: there, the probe as a
 * plain statement took a turns index plus a sort and read every QUEUED job of the kind per
 * subject. The pages a call reads (a count that does not drift, unlike its time) tell the plans apart.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';

/** Enough QUEUED jobs of one kind that the B-trees grow apart in height (the bad plan needed 25,000). */
const BACKLOG = 30_000;
const PROBES = 200;

describe('the supersede probe', () => {
  let test: TestDatabase;
  let repeated: { idea: string; jobs: string[] };
  beforeAll(async () => {
    test = await createTestDatabase();
    // The backlog is the setting, not the behaviour under test: one statement, not 30,000 enqueues.
    const product = (
      await sql<{ id: string }>`INSERT INTO products (owner_id, name) VALUES ('owner-a', 'Product') RETURNING id`.execute(test.db)
    ).rows[0]!.id;
    await sql`
      WITH ideas AS (INSERT INTO ideas (product_id, title) SELECT ${product}::uuid, 'idea' FROM generate_series(1, ${BACKLOG}) RETURNING id)
      INSERT INTO claude_jobs (kind, idea_id, product_id, owner_id) SELECT 'PLAN_CHAT', id, ${product}::uuid, 'owner-a' FROM ideas
    `.execute(test.db);
    // One idea with three QUEUED jobs of its kind, created in turn.
    const idea = (await sql<{ id: string }>`SELECT idea_id AS id FROM claude_jobs LIMIT 1`.execute(test.db)).rows[0]!.id;
    for (let i = 0; i < 2; i += 1) {
      await sql`INSERT INTO claude_jobs (kind, idea_id, product_id, owner_id) VALUES ('PLAN_CHAT', ${idea}, ${product}, 'owner-a')`.execute(
        test.db,
      );
    }
    const jobs = await sql<{ id: string }>`SELECT id FROM claude_jobs WHERE idea_id = ${idea} ORDER BY created_at`.execute(test.db);
    repeated = { idea, jobs: jobs.rows.map((row) => row.id) };
  });
  afterAll(async () => {
    await test.drop();
  });

  it('returns the older QUEUED jobs of each pair, in order of creation, and never the newest', async () => {
    const newest = repeated.jobs.at(-1)!;
    const { rows } = await sql<{ older_id: string; newest_id: string }>`
      SELECT * FROM jobfleet_queued_older(${['PLAN_CHAT', 'IDEA_GRILL']}::text[], ${[repeated.idea, repeated.idea]}::uuid[], ${[newest, randomUUID()]}::uuid[])
    `.execute(test.db);
    // IDEA_GRILL has no queued job of that idea: only PLAN_CHAT's two older ones come back.
    expect(rows).toEqual(repeated.jobs.slice(0, -1).map((older) => ({ older_id: older, newest_id: newest })));
  });

  it('probes the queued index per subject instead of reading the queued jobs of the kind', async () => {
    const subjects = Array.from({ length: PROBES }, () => randomUUID());
    const { rows } = await sql<{ 'QUERY PLAN': [{ Plan: Record<string, number> }] }>`
      EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)
      SELECT * FROM jobfleet_queued_older(${subjects.map(() => 'PLAN_CHAT')}::text[], ${subjects}::uuid[], ${subjects.map(() => randomUUID())}::uuid[])
    `.execute(test.db);
    const plan = rows[0]!['QUERY PLAN'][0].Plan;
    const pages = plan['Shared Hit Blocks']! + plan['Shared Read Blocks']!;
    // A descent of the queued index is a few pages; reading the kind's queued jobs is hundreds.
    expect(pages / PROBES).toBeLessThan(10);
  });
});
