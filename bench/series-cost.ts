/**
 * `npm run bench:series`: what one call of GET /api/v1/stats/series costs Postgres when the
 * history table holds 1,000,000 rows. It builds a database of its own (jobfleet_bench_series,
 * dropped at the end), generates with SQL a week of history: JOBS jobs (250,000) over the last 7
 * days, each created, claimed, started and finished (4 transitions: done, failed or cancelled),
 * across 4 kinds and 20 owners, plus a backlog of queued jobs created in the last hour; runs
 * ANALYZE; then times the endpoint's statement (loadHistorySeries, the cache in front of it
 * bypassed) per range, for an admin (every owner) and for one owner's read token: cold (no memo:
 * the whole range read) the first call and the median of the next CALLS; and warm, as the API
 * process calls it when a page polls: the memo filled by a call 60 s before, then the timed call
 * (each of CALLS samples with a memo of its own), whose answer is checked against the cold one at
 * the same clock. Run it as any benchmark, alone, under the bench lock.
 *
 * Options: --jobs N (250000), --backlog N (5000), --calls N (7), --keep (leave the database for a
 * look at its plans; the next run drops it first). SERIES_EXPLAIN=1 prints each
 * range's plan (EXPLAIN ANALYZE, BUFFERS) for an admin.
 */
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { createConnectionPool } from '../src/db/connection-pool.js';
import type { Database, Db } from '../src/db/database.js';
import { maintenanceUrl } from '../src/db/ensure-database.js';
import { withDefaultUser } from '../src/db/connection-string.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { MACHINES } from '../src/machines/index.js';
import { loadHistorySeries, SERIES_RANGE_NAMES, type SeriesQuery } from '../src/metrics/history-series.js';
import { createSeriesMemo } from '../src/metrics/series-memo.js';
import { createEntities } from '../src/transitions/index.js';
import { createIdeas } from './ideas.js';

const { values: options } = parseArgs({
  options: {
    jobs: { type: 'string', default: '250000' },
    backlog: { type: 'string', default: '5000' },
    calls: { type: 'string', default: '7' },
    keep: { type: 'boolean', default: false },
  },
});
const JOBS = Number(options.jobs);
const BACKLOG = Number(options.backlog);
const CALLS = Number(options.calls);
const OWNERS = 20;

const serverUrl = process.env.DATABASE_URL || 'postgres://127.0.0.1:5432/postgres';
const dbName = 'jobfleet_bench_series';
const dbUrl = Object.assign(new URL(withDefaultUser(serverUrl)), { pathname: `/${dbName}` }).toString();

async function admin(statement: string) {
  const client = new pg.Client({ connectionString: maintenanceUrl(serverUrl) });
  await client.connect();
  await client.query(statement).finally(() => client.end());
}

/** Per owner: a product, 10 ideas and 5 tasks, the subjects the generated jobs take turns on. */
async function createSubjects(db: Db) {
  const ideas: string[][] = [];
  const tasks: string[][] = [];
  for (let owner = 0; owner < OWNERS; owner += 1) {
    const { id: product } = await db
      .insertInto('products')
      .values({ owner_id: ownerName(owner), name: `Product ${owner}` })
      .returning('id')
      .executeTakeFirstOrThrow();
    ideas.push(await createIdeas(db, product, 10, 'Bench.'));
    tasks.push(
      await db.transaction().execute(async (trx) => {
        const [pbi] = await createEntities(trx, MACHINES.PBI, [{ product_id: product, title: 'PBI' }]);
        const [story] = await createEntities(trx, MACHINES.STORY, [{ pbi_id: pbi!.row.id, title: 'Story' }]);
        const created = await createEntities(
          trx,
          MACHINES.TASK,
          Array.from({ length: 5 }, (_, i) => ({ story_id: story!.row.id, title: `Task ${i}`, implementation_plan: 'Bench.' })),
        );
        return created.map((task) => task.row.id);
      }),
    );
  }
  return { ideas, tasks };
}

function ownerName(owner: number): string {
  return `owner-${String(owner).padStart(2, '0')}`;
}

/**
 * The history, generated in Postgres: job n is created at a random moment of the last 7 days
 * (the latest 15 minutes left to the backlog), claimed 0.1 to 30 s later, started 1 to 5 s after
 * that, and finished 10 s to 10 min later: 90% done, 8% failed, 2% cancelled. Rows go in in time
 * order, as the transition door appends them (what the BRIN index on created_at relies on).
 */
async function generateHistory(db: Db, subjects: { ideas: string[][]; tasks: string[][] }) {
  await sql`
    CREATE TEMP TABLE bench_jobs AS
    SELECT gen_random_uuid() AS id, n,
      (ARRAY['IDEA_GRILL', 'IDEA_GRILL', 'PLAN_CHAT', 'PLAN_CHAT', 'IDEA_MAKE_PLAN', 'TASK_IMPLEMENTATION'])[1 + n % 6] AS kind,
      n % ${OWNERS} AS owner,
      c, claimed, claimed + start * interval '1 second' AS started, claimed + (start + run) * interval '1 second' AS finished,
      CASE WHEN random() < 0.9 THEN 'DONE' WHEN random() < 0.8 THEN 'FAILED' ELSE 'CANCELLED' END AS status
    FROM (
      SELECT n, c, c + (0.1 + random() * 29.9) * interval '1 second' AS claimed, 1 + random() * 4 AS start, 10 + random() * 590 AS run
      FROM (
        SELECT n, now() - interval '7 days' + random() * (interval '7 days' - interval '15 minutes') AS c
        FROM generate_series(1, ${JOBS}) AS n
      ) AS created
    ) AS g
  `.execute(db);
  const owners = sql`unnest(${subjects.ideas.map((_, owner) => ownerName(owner))}::text[]) WITH ORDINALITY AS o(name, ord)`;
  await sql`
    CREATE TEMP TABLE bench_owners AS
    SELECT o.ord - 1 AS owner, o.name, p.id AS product,
      (SELECT array_agg(id ORDER BY created_at, id) FROM ideas WHERE product_id = p.id) AS ideas,
      (SELECT array_agg(t.id ORDER BY t.created_at, t.id) FROM tasks t JOIN stories s ON s.id = t.story_id JOIN pbis b ON b.id = s.pbi_id
        WHERE b.product_id = p.id) AS tasks
    FROM ${owners} JOIN products p ON p.owner_id = o.name
  `.execute(db);
  await sql`
    INSERT INTO claude_jobs (id, kind, status, idea_id, task_id, product_id, owner_id, claim_epoch, attempt_count, claimed_at,
      started_at, finished_at, cost_usd, input_tokens, output_tokens, created_at, updated_at)
    SELECT j.id, j.kind, j.status,
      CASE WHEN j.kind <> 'TASK_IMPLEMENTATION' THEN o.ideas[1 + j.n % 10] END,
      CASE WHEN j.kind = 'TASK_IMPLEMENTATION' THEN o.tasks[1 + j.n % 5] END,
      o.product, o.name, 1, 1, j.claimed, j.started, j.finished,
      round((random() * 0.5)::numeric, 6), (random() * 20000)::int, (random() * 4000)::int, j.c, j.finished
    FROM bench_jobs j JOIN bench_owners o ON o.owner = j.owner
    ORDER BY j.c
  `.execute(db);
  await sql`
    INSERT INTO transitions (entity_type, entity_id, from_status, to_status, trigger, created_at)
    SELECT 'CLAUDE_JOB', id, from_status, to_status, trigger, at FROM (
      SELECT id, NULL AS from_status, 'QUEUED' AS to_status, 'created' AS trigger, c AS at FROM bench_jobs
      UNION ALL SELECT id, 'QUEUED', 'CLAIMED', 'claimed', claimed FROM bench_jobs
      UNION ALL SELECT id, 'CLAIMED', 'RUNNING', 'started', started FROM bench_jobs
      UNION ALL SELECT id, 'RUNNING', status, 'finished', finished FROM bench_jobs
    ) AS h
    ORDER BY at
  `.execute(db);
  // The backlog: queued in the last hour, never claimed.
  await sql`
    CREATE TEMP TABLE bench_backlog AS
    SELECT gen_random_uuid() AS id, n, (ARRAY['IDEA_GRILL', 'PLAN_CHAT', 'TASK_IMPLEMENTATION'])[1 + n % 3] AS kind, n % ${OWNERS} AS owner,
      now() - random() * interval '1 hour' AS c
    FROM generate_series(1, ${BACKLOG}) AS n
  `.execute(db);
  await sql`
    INSERT INTO claude_jobs (id, kind, status, idea_id, task_id, product_id, owner_id, created_at, updated_at)
    SELECT j.id, j.kind, 'QUEUED',
      CASE WHEN j.kind <> 'TASK_IMPLEMENTATION' THEN o.ideas[1 + j.n % 10] END,
      CASE WHEN j.kind = 'TASK_IMPLEMENTATION' THEN o.tasks[1 + j.n % 5] END,
      o.product, o.name, j.c, j.c
    FROM bench_backlog j JOIN bench_owners o ON o.owner = j.owner
    ORDER BY j.c
  `.execute(db);
  await sql`
    INSERT INTO transitions (entity_type, entity_id, from_status, to_status, trigger, created_at)
    SELECT 'CLAUDE_JOB', id, NULL, 'QUEUED', 'created', c FROM bench_backlog ORDER BY c
  `.execute(db);
  // Workers: 8 processes now, and 200 that came and went over the week.
  const { id: tokenId } = await db
    .insertInto('api_tokens')
    .values({ name: 'workers', owner_id: 'fleet', scopes: ['worker'], token_hash: 'x'.repeat(64), token_prefix: 'x' } as never)
    .returning('id')
    .executeTakeFirstOrThrow();
  await sql`
    INSERT INTO workers (host, pid, kinds, concurrency, token_id, version, started_at, heartbeat_at, stopped_at)
    SELECT 'host-' || n % 8, n, ARRAY['IDEA_GRILL'], 50, ${tokenId}, 'bench', s, CASE WHEN n <= 8 THEN now() ELSE s + interval '6 hours' END,
      CASE WHEN n <= 8 THEN NULL ELSE s + interval '6 hours' END
    FROM (SELECT n, now() - interval '7 days' + random() * interval '7 days' AS s FROM generate_series(1, 208) AS n) AS w
  `.execute(db);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

await admin(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(dbName)} WITH (FORCE)`);
await admin(`CREATE DATABASE ${pg.escapeIdentifier(dbName)}`);
const db: Db = new Kysely<Database>({
  dialect: new PostgresDialect({ pool: createConnectionPool({ connectionString: dbUrl, max: 1, applicationName: 'series-cost' }) }),
});
try {
  await migrateToLatest(db);
  const built = performance.now();
  await generateHistory(db, await createSubjects(db));
  await sql`VACUUM ANALYZE`.execute(db);
  const { rows: sizes } = await sql<{ transitions: string; jobs: string; size: string }>`
    SELECT (SELECT count(*) FROM transitions) AS transitions, (SELECT count(*) FROM claude_jobs) AS jobs,
      pg_size_pretty(pg_total_relation_size('transitions')) AS size
  `.execute(db);
  console.log(
    `history: ${Number(sizes[0]!.transitions).toLocaleString('en')} transitions (${sizes[0]!.size}), ` +
      `${Number(sizes[0]!.jobs).toLocaleString('en')} jobs, built in ${((performance.now() - built) / 1000).toFixed(0)} s`,
  );

  const scopes = [
    { name: 'admin (every owner)', ownerId: null, byOwner: true },
    { name: `read (${ownerName(3)})`, ownerId: ownerName(3), byOwner: false },
  ];
  console.log(
    `\n| range | caller | cold: first call (ms) | cold: median of ${CALLS} (ms) | warm: median of ${CALLS} (ms) | warm: min (ms) | warm: max (ms) | warm = cold |`,
  );
  console.log('|---|---|---:|---:|---:|---:|---:|---|');
  for (const range of SERIES_RANGE_NAMES) {
    for (const scope of scopes) {
      const query = (now = new Date()): SeriesQuery => ({
        range,
        now,
        ownerId: scope.ownerId,
        byOwner: scope.byOwner,
        aliveWithin: { processMs: 15_000, pullMs: 300_000 },
      });
      const time = async () => {
        const at = performance.now();
        await loadHistorySeries(db, query());
        return performance.now() - at;
      };
      const first = await time();
      const times: number[] = [];
      for (let call = 0; call < CALLS; call += 1) times.push(await time());
      // Warm: what a poll costs once the memo holds the closed buckets of a call a minute before.
      const warm: number[] = [];
      let same = true;
      for (let call = 0; call < CALLS; call += 1) {
        const memo = createSeriesMemo();
        const now = new Date();
        await loadHistorySeries(db, query(new Date(now.getTime() - 60_000)), memo);
        const at = performance.now();
        const answer = await loadHistorySeries(db, query(now), memo);
        warm.push(performance.now() - at);
        if (call === 0) same = isDeepStrictEqual(answer, await loadHistorySeries(db, query(now)));
      }
      console.log(
        `| ${range} | ${scope.name} | ${first.toFixed(1)} | ${median(times).toFixed(1)} | ${median(warm).toFixed(1)} | ` +
          `${Math.min(...warm).toFixed(1)} | ${Math.max(...warm).toFixed(1)} | ${same ? 'yes' : 'NO'} |`,
      );
    }
  }
  if (process.env.SERIES_EXPLAIN) {
    for (const range of SERIES_RANGE_NAMES) {
      console.log(`\n${range}: EXPLAIN (ANALYZE, BUFFERS)`);
      await explainSeries(range);
    }
  }
} finally {
  await db.destroy();
  if (!options.keep) await admin(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(dbName)} WITH (FORCE)`);
}

/** The plan of one admin call: the same statement, run under EXPLAIN through a logging connection. */
async function explainSeries(range: (typeof SERIES_RANGE_NAMES)[number]) {
  let statement: { sql: string; parameters: readonly unknown[] } | null = null;
  const recorder = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: createConnectionPool({ connectionString: dbUrl, max: 1, applicationName: 'series-explain' }) }),
    log: (event) => {
      statement = { sql: event.query.sql, parameters: event.query.parameters };
    },
  });
  try {
    await loadHistorySeries(recorder, {
      range,
      now: new Date(),
      ownerId: null,
      byOwner: true,
      aliveWithin: { processMs: 15_000, pullMs: 300_000 },
    });
    const { sql: text, parameters } = statement!;
    const client = new pg.Client({ connectionString: dbUrl });
    await client.connect();
    try {
      const plan = await client.query(`EXPLAIN (ANALYZE, BUFFERS) ${text}`, parameters as unknown[]);
      console.log(plan.rows.map((row) => row['QUERY PLAN']).join('\n'));
    } finally {
      await client.end();
    }
  } finally {
    await recorder.destroy();
  }
}
