/**
 * The pool's client holds a transaction's BEGIN back and writes it with the transaction's first
 * statement, and sends a deferred write without waiting for its answer. What callers see must not
 * change: transactions still commit and roll back as one, failures still fail the transaction, and
 * a transaction that never ran a statement needs no round trip at all.
 */
import { type RawBuilder, sql } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { deferred } from '../src/db/database-client.js';
import { prepared } from '../src/db/prepared-statements.js';
import { databaseTypes, parseTimestamptz } from '../src/db/timestamp-parser.js';
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

  /**
   * What reaches pg's own query(), in order, and for each whether BEGIN, and the statement sent
   * just before it, had been answered when it was sent.
   */
  function recordSent() {
    const sent: { text: string; beginAnswered: boolean; previousAnswered: boolean }[] = [];
    let beginAnswered = false;
    let previousAnswered = true;
    const original = pg.Client.prototype.query;
    vi.spyOn(pg.Client.prototype, 'query').mockImplementation(function (this: pg.Client, ...args: any[]) {
      const config = args[0] as string | { text: string };
      const text = (typeof config === 'string' ? config : config.text).replace(/\/\*[^*]*\*\/\s*/g, '').trim();
      sent.push({ text, beginAnswered, previousAnswered });
      previousAnswered = false;
      const result = (original as (...a: any[]) => any).apply(this, args) as Promise<unknown>;
      const answered = () => {
        previousAnswered = true;
        if (text.toUpperCase() === 'BEGIN') beginAnswered = true;
      };
      void result.then(answered, answered);
      return result;
    });
    return sent;
  }
  const verbs = (sent: { text: string }[]) => sent.map((s) => s.text.split(/\s/)[0]!.toUpperCase());

  it('sends BEGIN with the first statement of a transaction, before BEGIN is answered', async () => {
    const sent = recordSent();
    const inTransaction = await test.db.transaction().execute(async (trx) => {
      const first = await sql<{ xid: string }>`SELECT txid_current()::text AS xid`.execute(trx);
      const second = await sql<{ xid: string }>`SELECT txid_current()::text AS xid`.execute(trx);
      return first.rows[0]!.xid === second.rows[0]!.xid;
    });
    expect(inTransaction).toBe(true);
    expect(verbs(sent)).toEqual(['BEGIN', 'SELECT', 'SELECT', 'COMMIT']);
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

  it('sends a deferred write and the statement after it without waiting for the write to be answered', async () => {
    const sent = recordSent();
    await test.db.transaction().execute(async (trx) => {
      await sql`SELECT 1`.execute(trx);
      await deferred(sql`INSERT INTO notes VALUES (10, 'deferred')`).execute(trx);
    });
    expect(verbs(sent)).toEqual(['BEGIN', 'SELECT', 'INSERT', 'COMMIT']);
    expect(sent[3]!.previousAnswered).toBe(false);
    expect((await sql`SELECT body FROM notes WHERE id = 10`.execute(test.db)).rows).toEqual([{ body: 'deferred' }]);
    await sql`DELETE FROM notes`.execute(test.db);
  });

  it('fails the commit with a failed deferred write\'s own error, and the transaction writes nothing', async () => {
    await sql`INSERT INTO notes VALUES (20, 'there before')`.execute(test.db);
    await expect(
      test.db.transaction().execute(async (trx) => {
        await sql`INSERT INTO notes VALUES (21, 'rolled back with the rest')`.execute(trx);
        await deferred(sql`INSERT INTO notes VALUES (20, 'a duplicate key')`).execute(trx);
      }),
    ).rejects.toThrow(/duplicate key/);
    expect((await sql`SELECT id FROM notes ORDER BY id`.execute(test.db)).rows).toEqual([{ id: 20 }]);
    await sql`DELETE FROM notes`.execute(test.db);
  });

  it.each([
    ['a deferred write', (text: RawBuilder<unknown>) => deferred(text)],
    // A prepared statement's answer takes one more step to reach its caller than a plain one's:
    // the error reported must still be the one sent first.
    ['a prepared deferred write', (text: RawBuilder<unknown>) => prepared(deferred(text))],
  ])('fails the statement after %s that failed with the write\'s error, not an aborted transaction', async (_, mark) => {
    await sql`INSERT INTO notes VALUES (30, 'there before')`.execute(test.db);
    const error = await test.db
      .transaction()
      .execute(async (trx) => {
        await mark(sql`INSERT INTO notes VALUES (30, 'a duplicate key')`).execute(trx);
        await sql`SELECT count(*) FROM notes`.execute(trx);
      })
      .catch((e: Error) => e);
    expect((error as Error).message).toMatch(/duplicate key/);
    await sql`DELETE FROM notes`.execute(test.db);
  });

  it('runs a deferred write outside a transaction like any statement, failing where it is called', async () => {
    await sql`INSERT INTO notes VALUES (40, 'there before')`.execute(test.db);
    await expect(deferred(sql`INSERT INTO notes VALUES (40, 'a duplicate key')`).execute(test.db)).rejects.toThrow(/duplicate key/);
    expect((await sql`SELECT count(*)::int AS n FROM notes`.execute(test.db)).rows).toEqual([{ n: 1 }]);
    await sql`DELETE FROM notes`.execute(test.db);
  });

  it('reads a timestamptz with jobfleet\'s parser, as the same instant whatever the session time zone', async () => {
    const parsers = vi.spyOn(databaseTypes, 'getTypeParser');
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
    expect(parsers).toHaveBeenCalledWith(1184, 'text');
    expect(parsers.mock.results.find((_, i) => parsers.mock.calls[i]![0] === 1184)!.value).toBe(parseTimestamptz);
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
