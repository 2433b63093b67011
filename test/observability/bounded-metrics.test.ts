/**
 * The metrics' bounded reads: the history counted from where the previous read ended (rows of
 * the settle window counted afresh, so none is counted twice or missed), and a scrape's read kept
 * for METRICS_KEEP_MS and shared by scrapes that come while it runs.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHistoryCounts, type HistoryCount } from '../../src/metrics/history-counts.js';
import { scrapeRead } from '../../src/metrics/scrape-read.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let product: string;

beforeAll(async () => {
  env = await createTestEnv();
  product = await createProduct(env.database.db);
});
afterAll(async () => {
  await env.teardown();
});

/** What a full count of the history says, in the shape of the counts. */
async function fullCount(): Promise<Record<string, number>> {
  const { rows } = await sql<{ entity_type: string; to_status: string; count: string }>`
    SELECT entity_type, to_status, count(*) FROM transitions GROUP BY 1, 2
  `.execute(env.database.db);
  return Object.fromEntries(rows.map((row) => [`${row.entity_type} ${row.to_status}`, Number(row.count)]));
}

const asRecord = (counts: HistoryCount[]) => Object.fromEntries(counts.map((c) => [`${c.entity} ${c.status}`, c.count]));

describe('the history counts', () => {
  it('equal a full count after each read, whether rows are settled or fresh', async () => {
    const db = env.database.db;
    await createIdeas(db, product, 3, 'GRILLED');
    // Rows older than the settle window: the next read moves its line over them.
    await sql`UPDATE transitions SET created_at = created_at - interval '1 hour'`.execute(db);
    const counts = createHistoryCounts(db, 60_000);
    expect(asRecord(await counts.read())).toEqual(await fullCount());

    // Fresh rows, counted afresh at each read until they settle.
    await createIdeas(db, product, 2, 'GRILLING');
    expect(asRecord(await counts.read())).toEqual(await fullCount());
    expect(asRecord(await counts.read())).toEqual(await fullCount());

    // The fresh rows settle; more come.
    await sql`UPDATE transitions SET created_at = created_at - interval '1 hour' WHERE created_at > now() - interval '1 minute'`.execute(
      db,
    );
    await createIdeas(db, product, 1, 'GRILLED');
    expect(asRecord(await counts.read())).toEqual(await fullCount());
    expect(asRecord(await counts.read())).toEqual(await fullCount());
  });

  it('count a row whose id is below others seen before it, while it is within the settle window', async () => {
    const db = env.database.db;
    const counts = createHistoryCounts(db, 60_000);
    await counts.read();
    const row = (entity_id: string) => sql`
      INSERT INTO transitions (entity_type, entity_id, to_status, trigger) VALUES ('IDEA', ${entity_id}::uuid, 'DRAFT', 'test')`;
    const [idea] = await createIdeas(db, product, 1, 'DRAFT');
    // A transaction that took its id first and commits after a later one was read: the read in
    // between must not settle past it (with no settle window it would, and never count it).
    const late = db.transaction().execute(async (trx) => {
      await row(idea!).execute(trx);
      await row(idea!).execute(db);
      expect(asRecord(await counts.read())).toEqual(await fullCount());
    });
    await late;
    expect(asRecord(await counts.read())).toEqual(await fullCount());
  });

  it('share concurrent reads instead of folding the same rows twice', async () => {
    const db = env.database.db;
    const counts = createHistoryCounts(db, 0);
    await createIdeas(db, product, 2, 'GRILLED');
    const [a, b] = await Promise.all([counts.read(), counts.read()]);
    expect(a).toBe(b);
    expect(asRecord(await counts.read())).toEqual(await fullCount());
  });
});

describe('a scrape read', () => {
  it('is kept for its time, shared while in flight, and not kept when it fails', async () => {
    let clock = 0;
    let reads = 0;
    let fail = false;
    const read = scrapeRead(
      async () => {
        reads += 1;
        if (fail) throw new Error('Postgres away');
        return reads;
      },
      5_000,
      () => clock,
    );
    const [first, second] = await Promise.all([read(), read()]);
    expect([first, second, reads]).toEqual([1, 1, 1]);
    clock = 4_999;
    expect(await read()).toBe(1);
    clock = 5_000;
    fail = true;
    await expect(read()).rejects.toThrow('Postgres away');
    fail = false;
    expect(await read()).toBe(3);
  });
});
