/**
 * The metrics' bounded reads: the history and the finished jobs counted from where the previous
 * read ended (rows of the settle window counted afresh, so none is counted twice or missed), the
 * live jobs counted afresh, and a scrape's read kept for METRICS_KEEP_MS and shared by scrapes
 * that come while it runs.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import { insertJobs } from '../../src/jobs/enqueue-jobs.js';
import { claudeJobMachine } from '../../src/machines/index.js';
import { createHistoryCounts, type HistoryCount } from '../../src/metrics/history-counts.js';
import { createJobFigures, DURATION_BUCKETS, type JobFigures } from '../../src/metrics/job-figures.js';
import { transition } from '../../src/transitions/index.js';
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

/** What the one pass over every job (what a scrape read before the fold) says, keyed by kind and status. */
async function jobRecount(): Promise<Record<string, JobFigures>> {
  const seconds = sql`extract(epoch from finished_at - started_at)`;
  const { rows } = await sql<Record<string, string>>`
    SELECT kind, status, count(*) AS count, coalesce(sum(input_tokens), 0) AS input_tokens,
      coalesce(sum(output_tokens), 0) AS output_tokens, coalesce(sum(cost_usd), 0) AS cost_usd,
      count(${seconds}) AS timed, coalesce(sum(${seconds}), 0) AS seconds_sum,
      count(*) FILTER (WHERE error->>'code' = 'budget_exceeded') AS budget_exceeded,
      ${sql.join(DURATION_BUCKETS.map((le, i) => sql`count(*) FILTER (WHERE ${seconds} <= ${le}) AS ${sql.ref(`b${i}`)}`))}
    FROM claude_jobs GROUP BY kind, status
  `.execute(env.database.db);
  const live = (status: string) => ['QUEUED', 'CLAIMED', 'RUNNING'].includes(status);
  return Object.fromEntries(
    rows.map((row) => [
      `${row.kind} ${row.status}`,
      {
        kind: row.kind,
        status: row.status,
        count: Number(row.count),
        // Live jobs' usage is not counted until they finish (counters must not fall when a job goes back to the queue).
        inputTokens: live(row.status!) ? 0 : Number(row.input_tokens),
        outputTokens: live(row.status!) ? 0 : Number(row.output_tokens),
        costUsd: live(row.status!) ? 0 : Number(row.cost_usd),
        timed: live(row.status!) ? 0 : Number(row.timed),
        secondsSum: live(row.status!) ? 0 : Number(row.seconds_sum),
        buckets: DURATION_BUCKETS.map((_, i) => (live(row.status!) ? 0 : Number(row[`b${i}`]))),
        budgetExceeded: live(row.status!) ? 0 : Number(row.budget_exceeded),
      } as JobFigures,
    ]),
  );
}

const figuresRecord = (figures: JobFigures[]) => Object.fromEntries(figures.map((f) => [`${f.kind} ${f.status}`, f]));

/** `count` grill jobs, queued (not in Redis: these tests read Postgres only). */
async function queuedJobs(db: Db, count: number): Promise<string[]> {
  const ideas = await createIdeas(db, product, count, 'DRAFT');
  const { created } = await db.transaction().execute((trx) =>
    insertJobs(
      trx,
      ideas.map((idea) => ({ kind: 'IDEA_GRILL' as const, subjectId: idea })),
      { actorTokenId: null },
    ),
  );
  return created.map((job) => job.id);
}

/** Moves a job through the door, as a worker and its agent would. */
function move(db: Db, id: string, from: 'QUEUED' | 'CLAIMED' | 'RUNNING', to: 'CLAIMED' | 'RUNNING' | 'DONE' | 'FAILED') {
  const via =
    from === 'QUEUED' && to !== 'CLAIMED' ? (to === 'RUNNING' ? ['CLAIMED' as const] : ['CLAIMED' as const, 'RUNNING' as const]) : [];
  const finishing = to === 'DONE' || to === 'FAILED';
  return transition(
    db as never,
    claudeJobMachine,
    {
      id,
      from,
      to,
      via: from === 'CLAIMED' && finishing ? ['RUNNING'] : via,
      ...(to === 'FAILED' ? { trigger: 'agent_failed' } : {}),
      set: to === 'FAILED' ? { error: { code: 'budget_exceeded', message: 'spent' } } : to === 'DONE' ? { result: { ok: true } } : {},
      add: finishing ? { input_tokens: 100, output_tokens: 40, cost_usd: 0.25 } : {},
    },
    finishing ? { setSql: { finished_at: sql`now()` } } : {},
  );
}

/** Runs `work` in a transaction of its own. */
const inTrx = <T>(db: Db, work: (trx: Db) => Promise<T>) => db.transaction().execute((trx) => work(trx as unknown as Db));

/** Settles every history row: moves it out of the settle window. */
const settleAll = (db: Db) =>
  sql`UPDATE transitions SET created_at = created_at - interval '1 hour' WHERE created_at > now() - interval '1 minute'`.execute(db);

describe('the job figures', () => {
  it('equal a full recount after new finishes, settled or fresh', async () => {
    const db = env.database.db;
    const jobs = await queuedJobs(db, 8);
    for (const id of jobs.slice(0, 3)) await inTrx(db, (trx) => move(trx, id, 'QUEUED', 'DONE'));
    await settleAll(db);
    const figures = createJobFigures(db, 60_000);
    expect(figuresRecord(await figures.read())).toEqual(await jobRecount());

    // Fresh finishes, read afresh at each read until they settle.
    await inTrx(db, (trx) => move(trx, jobs[3]!, 'QUEUED', 'DONE'));
    await inTrx(db, (trx) => move(trx, jobs[4]!, 'QUEUED', 'FAILED'));
    expect(figuresRecord(await figures.read())).toEqual(await jobRecount());
    expect(figuresRecord(await figures.read())).toEqual(await jobRecount());

    // They settle (the line moves over them); more finish.
    await settleAll(db);
    expect(figuresRecord(await figures.read())).toEqual(await jobRecount());
    await inTrx(db, (trx) => move(trx, jobs[5]!, 'QUEUED', 'FAILED'));
    await inTrx(db, (trx) => move(trx, jobs[6]!, 'QUEUED', 'DONE'));
    const folded = figuresRecord(await figures.read());
    expect(folded).toEqual(await jobRecount());
    expect(folded['IDEA_GRILL FAILED']).toMatchObject({ budgetExceeded: 2, inputTokens: 200, costUsd: 0.5 });
    await settleAll(db);
    expect(figuresRecord(await figures.read())).toEqual(await jobRecount());
  });

  it('count live jobs both ways: a queued job claimed, then finished', async () => {
    const db = env.database.db;
    const figures = createJobFigures(db, 60_000);
    const before = figuresRecord(await figures.read());
    const count = (record: Record<string, JobFigures>, status: string) => record[`IDEA_GRILL ${status}`]?.count ?? 0;
    const [job] = await queuedJobs(db, 1);
    let now = figuresRecord(await figures.read());
    expect(now).toEqual(await jobRecount());
    expect(count(now, 'QUEUED')).toBe(count(before, 'QUEUED') + 1);

    await inTrx(db, (trx) => move(trx, job!, 'QUEUED', 'CLAIMED'));
    now = figuresRecord(await figures.read());
    expect(now).toEqual(await jobRecount());
    expect([count(now, 'QUEUED'), count(now, 'CLAIMED')]).toEqual([count(before, 'QUEUED'), count(before, 'CLAIMED') + 1]);

    await inTrx(db, (trx) => move(trx, job!, 'CLAIMED', 'DONE'));
    now = figuresRecord(await figures.read());
    expect(now).toEqual(await jobRecount());
    expect([count(now, 'CLAIMED'), count(now, 'DONE')]).toEqual([count(before, 'CLAIMED'), count(before, 'DONE') + 1]);
  });

  it('count a job whose terminal row commits after a later one was read', async () => {
    const db = env.database.db;
    const figures = createJobFigures(db, 60_000);
    await figures.read();
    const [early, later] = await queuedJobs(db, 2);
    await inTrx(db, (trx) => move(trx, early!, 'QUEUED', 'RUNNING'));
    await inTrx(db, (trx) => move(trx, later!, 'QUEUED', 'RUNNING'));
    // The early job's finish takes its history ids first and commits after the later one's was
    // read: the read in between must not settle past it.
    await inTrx(db, async (trx) => {
      await move(trx, early!, 'RUNNING', 'DONE');
      await inTrx(db, (other) => move(other, later!, 'RUNNING', 'DONE'));
      expect(figuresRecord(await figures.read())).toEqual(await jobRecount());
    });
    const done = figuresRecord(await figures.read());
    expect(done).toEqual(await jobRecount());
    await settleAll(db);
    expect(figuresRecord(await figures.read())).toEqual(done);
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
