/**
 * Marked statements run as named prepared statements on the connection that runs them, and a
 * migration that changes what one returns costs one failed call, not a broken worker.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepared } from '../src/db/prepared-statements.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-database.js';

describe('prepared statements', () => {
  let test: TestDatabase;
  beforeAll(async () => {
    test = await createTestDatabase({ poolMax: 1 });
    await sql`CREATE TABLE gadgets (id int PRIMARY KEY, name text NOT NULL)`.execute(test.db);
    await sql`INSERT INTO gadgets VALUES (1, 'one'), (2, 'two'), (3, 'three')`.execute(test.db);
  });
  afterAll(async () => {
    await test.drop();
  });

  const gadgets = (ids: number[]) => prepared(sql<{ id: number; name: string }>`SELECT * FROM gadgets WHERE id = ANY(${ids}::int[]) ORDER BY id`);
  const preparedNames = async () =>
    (await sql<{ name: string }>`SELECT name FROM pg_prepared_statements ORDER BY name`.execute(test.db)).rows.map((row) => row.name);

  it('prepares a marked statement once per connection and runs it with any input', async () => {
    expect(await preparedNames()).toEqual([]);
    expect((await gadgets([1, 3]).execute(test.db)).rows).toEqual([{ id: 1, name: 'one' }, { id: 3, name: 'three' }]);
    expect((await gadgets([2]).execute(test.db)).rows).toEqual([{ id: 2, name: 'two' }]);
    const names = await preparedNames();
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^jf_[0-9a-f]{16}_0$/);
  });

  it('leaves unmarked statements unnamed', async () => {
    const before = await preparedNames();
    await sql`SELECT * FROM gadgets WHERE id = ${1}`.execute(test.db);
    expect(await preparedNames()).toEqual(before);
  });

  it('prepares again under a new name when a migration changed what the statement returns', async () => {
    await sql`ALTER TABLE gadgets ADD COLUMN colour text`.execute(test.db);
    // Postgres refuses the old plan once (the caller's retry, as the worker's group commit does)...
    await expect(gadgets([1]).execute(test.db)).rejects.toThrow(/cached plan must not change result type/);
    // ...and the next call runs the statement prepared afresh.
    expect((await gadgets([1]).execute(test.db)).rows).toEqual([{ id: 1, name: 'one', colour: null }]);
    expect((await preparedNames()).filter((name) => name.endsWith('_1'))).toHaveLength(1);
  });
});
