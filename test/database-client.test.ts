/**
 * The pool's client holds a transaction's BEGIN back and writes it with the transaction's first
 * statement. What callers see must not change: transactions still commit and roll back as one,
 * and a transaction that never ran a statement needs no round trip at all.
 */
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/test-database.js';

describe('the database client', () => {
  let test: TestDatabase;
  beforeAll(async () => {
    test = await createTestDatabase({ poolMax: 1 });
    await sql`CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)`.execute(test.db);
  });
  afterEach(() => vi.restoreAllMocks());
  afterAll(async () => {
    await test.drop();
  });

  /** What reaches pg's own query(), in order, and whether BEGIN had been answered when each was sent. */
  function recordSent() {
    const sent: { text: string; beginAnswered: boolean }[] = [];
    let beginAnswered = false;
    const original = pg.Client.prototype.query;
    vi.spyOn(pg.Client.prototype, 'query').mockImplementation(function (this: pg.Client, ...args: any[]) {
      const config = args[0] as string | { text: string };
      const text = (typeof config === 'string' ? config : config.text).trim();
      sent.push({ text, beginAnswered });
      const result = (original as (...a: any[]) => any).apply(this, args);
      if (text.toUpperCase() === 'BEGIN') void (result as Promise<unknown>).then(() => (beginAnswered = true));
      return result;
    });
    return sent;
  }

  it('sends BEGIN with the first statement of a transaction, before BEGIN is answered', async () => {
    const sent = recordSent();
    const inTransaction = await test.db.transaction().execute(async (trx) => {
      const first = await sql<{ xid: string }>`SELECT txid_current()::text AS xid`.execute(trx);
      const second = await sql<{ xid: string }>`SELECT txid_current()::text AS xid`.execute(trx);
      return first.rows[0]!.xid === second.rows[0]!.xid;
    });
    expect(inTransaction).toBe(true);
    expect(sent.map((s) => s.text.split(/\s/)[0]!.toUpperCase())).toEqual(['BEGIN', 'SELECT', 'SELECT', 'COMMIT']);
    expect(sent[1]!.beginAnswered).toBe(false);
  });

  it('sends nothing for a transaction that runs no statement', async () => {
    const sent = recordSent();
    await test.db.transaction().execute(async () => 'nothing');
    await expect(test.db.transaction().execute(async () => Promise.reject(new Error('given up')))).rejects.toThrow('given up');
    expect(sent).toEqual([]);
  });

  it('rolls back every statement of a transaction that fails, the first one included', async () => {
    await expect(
      test.db.transaction().execute(async (trx) => {
        await sql`INSERT INTO notes VALUES (1, 'kept only if the transaction commits')`.execute(trx);
        await sql`INSERT INTO notes VALUES (1, 'a duplicate key')`.execute(trx);
      }),
    ).rejects.toThrow(/duplicate key/);
    expect((await sql`SELECT * FROM notes`.execute(test.db)).rows).toEqual([]);
  });

  it('reads a timestamptz as the same instant whatever the session time zone', async () => {
    const instants = await test.db.transaction().execute(async (trx) => {
      const read = [];
      for (const zone of ['UTC', 'Asia/Kolkata', 'America/St_Johns', 'Europe/Amsterdam']) {
        await sql`SELECT set_config('TimeZone', ${zone}, true)`.execute(trx);
        const { rows } = await sql<{ at: Date; text: string }>`
          SELECT t AS at, t::text AS text FROM (SELECT timestamptz '2026-12-02 06:21:34.812345+00' AS t) AS v
        `.execute(trx);
        read.push({ zone, text: rows[0]!.text, at: rows[0]!.at.toISOString() });
      }
      return read;
    });
    for (const { at } of instants) expect(at).toBe('2026-12-02T06:21:34.812Z');
    // The zones really were different texts on the wire.
    expect(new Set(instants.map((i) => i.text)).size).toBe(instants.length);
  });

  it('keeps a failed first statement inside its transaction and leaves the connection usable', async () => {
    await expect(test.db.transaction().execute((trx) => sql`SELECT * FROM no_such_table`.execute(trx))).rejects.toThrow(/no_such_table/);
    await test.db.transaction().execute((trx) => sql`INSERT INTO notes VALUES (2, 'committed')`.execute(trx));
    expect((await sql`SELECT id, body FROM notes`.execute(test.db)).rows).toEqual([{ id: 2, body: 'committed' }]);
    // The one pooled connection is idle again: not left inside a transaction.
    expect((await sql<{ xid: string | null }>`SELECT txid_current_if_assigned()::text AS xid`.execute(test.db)).rows[0]!.xid).toBeNull();
  });
});
