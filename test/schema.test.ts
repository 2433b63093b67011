import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENTITY_TYPES, MACHINES } from '../src/machines/index.js';
import { JOB_KINDS } from '../src/job-kinds.js';
import { createEmptyDatabase, createTestDatabase, type TestDatabase } from './helpers/test-database.js';
import { migrateDownToZero, migrateToLatest } from '../src/db/migrator.js';

/** The values listed by a CHECK (... IN (...)) constraint, as Postgres reports it. */
async function checkedValues(test: TestDatabase, constraint: string): Promise<string[]> {
  const { rows } = await sql<{ definition: string }>`
    SELECT pg_get_constraintdef(oid) AS definition FROM pg_constraint WHERE conname = ${constraint}
  `.execute(test.db);
  expect(rows, `constraint ${constraint}`).toHaveLength(1);
  return [...rows[0]!.definition.matchAll(/'([A-Z_]+)'::text/g)].map((match) => match[1]!);
}

async function columnDefault(test: TestDatabase, table: string, column: string): Promise<string | null> {
  const { rows } = await sql<{ column_default: string | null }>`
    SELECT column_default FROM information_schema.columns WHERE table_name = ${table} AND column_name = ${column}
  `.execute(test.db);
  return rows[0]?.column_default ?? null;
}

describe('schema', () => {
  let test: TestDatabase;
  beforeAll(async () => {
    test = await createTestDatabase();
  });
  afterAll(async () => {
    await test.drop();
  });

  it.each(ENTITY_TYPES)('the status CHECK of %s lists exactly the statuses of its machine', async (entity) => {
    const machine = MACHINES[entity];
    expect(await checkedValues(test, `${machine.table}_status_check`)).toEqual([...machine.statuses]);
  });

  it.each(ENTITY_TYPES)("a new %s row starts in its machine's initial status", async (entity) => {
    const machine = MACHINES[entity];
    expect(await columnDefault(test, machine.table, 'status')).toBe(`'${machine.initial}'::text`);
  });

  it('the kind CHECK lists exactly the job kinds', async () => {
    expect(await checkedValues(test, 'claude_jobs_kind_check')).toEqual([...JOB_KINDS]);
  });

  it('the history CHECK lists exactly the entity types', async () => {
    expect(await checkedValues(test, 'transitions_entity_type_check')).toEqual([...ENTITY_TYPES]);
  });

  it("checks a job's subjects by foreign key, and none of the columns the code derives", async () => {
    const { rows } = await sql<{ column: string }>`
      SELECT a.attname AS column
      FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
      WHERE c.conrelid = 'claude_jobs'::regclass AND c.contype = 'f'
      ORDER BY a.attname
    `.execute(test.db);
    // Subjects come from requests; product and tokens are copied from rows or the caller (0007);
    // a retry's original is the failed job it retries, which may age out before it (0017).
    expect(rows.map((row) => row.column)).toEqual(['idea_id', 'sprint_run_id', 'task_id']);
  });

  it('indexes the history by entity and by time', async () => {
    const { rows } = await sql<{ indexdef: string }>`
      SELECT indexdef FROM pg_indexes WHERE tablename = 'transitions' ORDER BY indexname
    `.execute(test.db);
    const definitions = rows.map((row) => row.indexdef).join('\n');
    expect(definitions).toContain('(entity_type, entity_id, id)');
    expect(definitions).toContain('(created_at)');
  });

  it("indexes an idea's log once, in the order it is read (0014)", async () => {
    const { rows } = await sql<{ indexdef: string }>`
      SELECT indexdef FROM pg_indexes WHERE tablename = 'idea_logs' ORDER BY indexname
    `.execute(test.db);
    // A chat job writes two log rows: every index here is two entries per job.
    expect(rows.map((row) => row.indexdef.replace(/^.* USING /, ''))).toEqual(['btree (idea_id, created_at, id)']);
  });

  it("leaves room on claude_jobs' pages for the new versions of their rows (0014)", async () => {
    const { rows } = await sql<{
      options: string[] | null;
    }>`SELECT reloptions AS options FROM pg_class WHERE oid = 'claude_jobs'::regclass`.execute(test.db);
    expect(rows[0]!.options).toContain('fillfactor=60');
  });
});

describe('migrations', () => {
  let test: TestDatabase;
  beforeAll(async () => {
    test = await createEmptyDatabase();
  });
  afterAll(async () => {
    await test.drop();
  });

  async function tables(): Promise<string[]> {
    const { rows } = await sql<{ tablename: string }>`
      SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'kysely_%' ORDER BY tablename
    `.execute(test.db);
    return rows.map((row) => row.tablename);
  }

  const ALL_TABLES = [
    'api_tokens',
    'claude_jobs',
    'fleet_secrets',
    'idea_logs',
    'ideas',
    'idempotency_keys',
    'job_questions',
    'job_usage_records',
    'owner_budgets',
    'owner_caps',
    'owner_daily_spend',
    'pbis',
    'products',
    'providers',
    'retention_cursors',
    'retention_held_jobs',
    'schedule_firings',
    'schedules',
    'sprint_runs',
    'sprints',
    'steps',
    'stories',
    'task_dependencies',
    'tasks',
    'transitions',
    'workers',
  ];

  it('go up to the latest, down to zero, and up again', async () => {
    const applied = await migrateToLatest(test.db);
    expect(applied.length).toBeGreaterThanOrEqual(6);
    expect(await tables()).toEqual(ALL_TABLES);

    expect(await migrateToLatest(test.db)).toEqual([]);

    const reverted = await migrateDownToZero(test.db);
    expect(reverted).toHaveLength(applied.length);
    expect(await tables()).toEqual([]);

    expect(await migrateToLatest(test.db)).toEqual(applied);
    expect(await tables()).toEqual(ALL_TABLES);
  });
});
