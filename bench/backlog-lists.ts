/**
 * What one page of each backlog list (and GET /owners) costs on a big backlog: each list
 * statement as the routes send it (listVisibleRows, ownerLoads), EXPLAIN (ANALYZE, BUFFERS), and
 * the median of 3 calls. The database (jobfleet_bench_lists): the volumes of bench:backlog
 * (1,000,000 queued jobs on 800,000 ideas and 200,000 tasks, 20 owners, 250,000 finished jobs),
 * plus 20,000 PBIs, 60,000 stories, 10,000 sprints with a run and 10 steps each, and a small owner
 * with a handful of rows of each kind.
 *
 *   node --import tsx bench/backlog-lists.ts --build     # create it (3-4 min), then measure
 *   node --import tsx bench/backlog-lists.ts [--plans] [--only=TASK] [--drop]
 *
 * "page 6" times cover the 6 calls that reach it; its plan and buffers are page 6's own.
 */
import { parseArgs } from 'node:util';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { listVisibleRows } from '../src/backlog/backlog-rows.js';
import { createConnectionPool } from '../src/db/connection-pool.js';
import { withDefaultUser } from '../src/db/connection-string.js';
import type { Database, Db } from '../src/db/database.js';
import { maintenanceUrl } from '../src/db/ensure-database.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { ownerLoads } from '../src/fairness/owner-caps.js';
import { buildVolumes } from './backlog-volumes.js';

const { values: options } = parseArgs({
  options: { build: { type: 'boolean' }, plans: { type: 'boolean' }, only: { type: 'string' }, drop: { type: 'boolean' } },
});
const name = 'jobfleet_bench_lists';
const server = process.env.DATABASE_URL || 'postgres://127.0.0.1:5432/postgres';
const url = Object.assign(new URL(withDefaultUser(server)), { pathname: `/${name}` }).toString();

async function admin(statement: string) {
  const client = new pg.Client({ connectionString: maintenanceUrl(server) });
  await client.connect();
  await client.query(statement).finally(() => client.end());
}

async function build() {
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin(`CREATE DATABASE ${name}`);
  const db: Db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: createConnectionPool({ connectionString: url, max: 1, applicationName: 'bench-lists' }) }),
  });
  await migrateToLatest(db);
  const t = performance.now();
  await buildVolumes(db, { queued: 1_000_000, finished: 250_000 });
  console.log('volumes', (performance.now() - t) / 1000);
  // More PBIs and stories, sprints with runs and steps, spread over the 20 owners' products.
  await sql`
    INSERT INTO pbis (product_id, title, created_at)
    SELECT p.id, 'PBI ' || n, now() - interval '40 days' + n * interval '1 minute'
    FROM generate_series(0, 19999) n JOIN (SELECT id, row_number() OVER (ORDER BY owner_id) - 1 AS k FROM products) p ON p.k = n % 20`.execute(
    db,
  );
  await sql`
    INSERT INTO stories (pbi_id, title, created_at)
    SELECT b.id, 'Story', b.created_at + s * interval '1 second' FROM pbis b, generate_series(1, 3) s WHERE b.title <> 'PBI'`.execute(db);
  await sql`
    INSERT INTO sprints (product_id, name, status, created_at)
    SELECT p.id, 'Sprint ' || n, 'COMPLETED', now() - interval '40 days' + n * interval '5 minutes'
    FROM generate_series(0, 9999) n JOIN (SELECT id, row_number() OVER (ORDER BY owner_id) - 1 AS k FROM products) p ON p.k = n % 20`.execute(
    db,
  );
  await sql`INSERT INTO sprint_runs (sprint_id, mode, status, created_at) SELECT id, 'PER_TASK', 'DONE', created_at + interval '1 minute' FROM sprints`.execute(
    db,
  );
  await sql`
    INSERT INTO steps (sprint_run_id, position, name, status, created_at)
    SELECT r.id, s, 'Step ' || s, 'COMPLETED', r.created_at + s * interval '1 second' FROM sprint_runs r, generate_series(1, 10) s`.execute(
    db,
  );
  // A small owner: a handful of rows of each kind, the newest among them old.
  await sql`
    WITH p AS (INSERT INTO products (owner_id, name, created_at) VALUES ('owner-small', 'Small', now() - interval '50 days') RETURNING id),
    b AS (INSERT INTO pbis (product_id, title, created_at) SELECT id, 'Small PBI', now() - interval '50 days' FROM p RETURNING id),
    st AS (INSERT INTO stories (pbi_id, title, created_at) SELECT id, 'Small story', now() - interval '50 days' FROM b RETURNING id),
    t AS (INSERT INTO tasks (story_id, title, created_at) SELECT st.id, 'Small task ' || g, now() - interval '50 days' + g * interval '1 hour' FROM st, generate_series(1, 5) g RETURNING id),
    i AS (INSERT INTO ideas (product_id, title, created_at) SELECT p.id, 'Small idea ' || g, now() - interval '50 days' + g * interval '1 hour' FROM p, generate_series(1, 5) g RETURNING id),
    sp AS (INSERT INTO sprints (product_id, name, created_at) SELECT id, 'Small sprint', now() - interval '50 days' FROM p RETURNING id),
    r AS (INSERT INTO sprint_runs (sprint_id, mode, status, created_at) SELECT id, 'PER_TASK', 'DONE', now() - interval '50 days' FROM sp RETURNING id)
    INSERT INTO steps (sprint_run_id, position, name, created_at) SELECT r.id, g, 'Small step', now() - interval '50 days' FROM r, generate_series(1, 3) g`.execute(
    db,
  );
  await sql`VACUUM ANALYZE`.execute(db);
  console.log('done', (performance.now() - t) / 1000);
  await db.destroy();
}

if (options.build) await build();

const pool = new pg.Pool({ connectionString: url, max: 1 });
const logged: { sql: string; params: readonly unknown[] }[] = [];
const db = new Kysely<Database>({
  dialect: new PostgresDialect({ pool }),
  log: (e) => {
    if (e.level === 'query') logged.push({ sql: e.query.sql, params: e.query.parameters });
  },
});
const verbose = options.plans === true;
const only = options.only;

async function explain(label: string, run: () => Promise<unknown>) {
  if (only && !label.includes(only)) return;
  logged.length = 0;
  await run();
  await run(); // warm
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await run();
    times.push(performance.now() - t);
  }
  const last = logged.at(-1)!;
  const { rows } = await pool.query(`EXPLAIN (ANALYZE, BUFFERS) ${last.sql}`, last.params as unknown[]);
  const lines = rows.map((r) => r['QUERY PLAN'] as string);
  const exec = lines.find((l) => l.startsWith('Execution Time'));
  const buf = lines.find((l) => l.includes('Buffers'));
  times.sort((a, b) => a - b);
  console.log(`${label.padEnd(48)} median ${times[1]!.toFixed(1)} ms  ${exec}  ${buf?.trim()}`);
  if (verbose) console.log(lines.join('\n'));
}

const big = 'owner-03';
const small = 'owner-small';
const { rows: pr } = await pool.query(`SELECT owner_id, id FROM products WHERE owner_id IN ($1, $2)`, [big, small]);
const productOf = (o: string) => pr.find((r) => r.owner_id === o)!.id as string;
const one = async (q: string) => (await pool.query(q)).rows[0] as Record<string, string>;
const story = (
  await one(
    `SELECT id FROM stories WHERE title = 'Story' AND pbi_id IN (SELECT id FROM pbis WHERE product_id = '${productOf(big)}' AND title = 'PBI')`,
  )
).id!;
const pbi = (await one(`SELECT id FROM pbis WHERE title <> 'PBI' AND product_id = '${productOf(big)}' LIMIT 1`)).id!;
const sprint = (await one(`SELECT id FROM sprints WHERE product_id = '${productOf(big)}' LIMIT 1`)).id!;
const run = (await one(`SELECT id FROM sprint_runs WHERE sprint_id = '${sprint}'`)).id!;

type E = 'IDEA' | 'TASK' | 'STORY' | 'PBI' | 'SPRINT' | 'SPRINT_RUN' | 'STEP' | 'PRODUCT';
const list =
  (entity: E, ownerId: string | null, equals: Record<string, string> = {}, statuses?: string[], later = false) =>
  async () => {
    let page = await listVisibleRows(db, entity, { equals, statuses, ownerId, page: { limit: 50 } });
    if (later)
      for (let i = 0; i < 5 && page.next; i++)
        page = await listVisibleRows(db, entity, { equals, statuses, ownerId, page: { limit: 50, after: page.next } });
    return page;
  };
const cases: [string, () => Promise<unknown>][] = [];
const entities: [E, Record<string, string>, string[], string][] = [
  ['IDEA', { product_id: productOf(big) }, ['DRAFT'], 'PLANNED'],
  ['TASK', { story_id: story }, ['TO_DO'], 'DONE'],
  ['STORY', { pbi_id: pbi }, ['OPEN'], 'DONE'],
  ['PBI', { product_id: productOf(big) }, ['READY'], 'DONE'],
  ['SPRINT', { product_id: productOf(big) }, ['COMPLETED'], 'ACTIVE'],
  ['SPRINT_RUN', { sprint_id: sprint }, ['DONE'], 'RUNNING'],
  ['STEP', { sprint_run_id: run }, ['COMPLETED'], 'FAILED'],
];
for (const [entity, filter, common, rare] of entities) {
  cases.push([`${entity} admin`, list(entity, null)]);
  cases.push([`${entity} admin page 6`, list(entity, null, {}, undefined, true)]);
  cases.push([`${entity} big owner`, list(entity, big)]);
  cases.push([`${entity} big owner page 6`, list(entity, big, {}, undefined, true)]);
  cases.push([`${entity} small owner`, list(entity, small)]);
  cases.push([`${entity} admin ${Object.keys(filter)[0]}`, list(entity, null, filter)]);
  cases.push([`${entity} big owner ${Object.keys(filter)[0]}`, list(entity, big, filter)]);
  cases.push([`${entity} admin status ${common}`, list(entity, null, {}, common)]);
  cases.push([`${entity} admin status ${rare} (rare)`, list(entity, null, {}, [rare])]);
  cases.push([`${entity} big owner status ${common}`, list(entity, big, {}, common)]);
}
cases.push(['IDEA admin status GRILLING,PLANNING (two rare)', list('IDEA', null, {}, ['GRILLING', 'PLANNING'])]);
cases.push(['IDEA admin status DRAFT,PLANNED (common+rare)', list('IDEA', null, {}, ['DRAFT', 'PLANNED'])]);
cases.push(['TASK small owner status DONE', list('TASK', 'owner-small', {}, ['DONE'])]);
cases.push(['PRODUCT admin', list('PRODUCT', null)]);
cases.push(['PRODUCT owner', list('PRODUCT', big)]);
cases.push(['OWNERS admin', () => ownerLoads(db, null, null)]);
cases.push(['OWNERS one owner', () => ownerLoads(db, [big], null)]);
for (const [label, fn] of cases) await explain(label, fn);
await db.destroy();
if (options.drop) await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
