/**
 * What the reads that run again and again cost on a database that already holds a backlog and a
 * long history (it builds nothing: point DATABASE_URL at one, e.g. the backlog benchmark's): the
 * Postgres part of a /metrics scrape, the statements it used to run against the jobs' figures and
 * the history counts it runs now (a process's first read, reads a scrape later, the plans of the
 * live jobs' counts), and a replay from an old Last-Event-ID with a filter that matches little,
 * bounded and (over --unbounded rows, to extrapolate from) not. Run it alone, under the bench lock:
 *
 *   flock /tmp/jobfleet-bench.lock env DATABASE_URL=postgres://127.0.0.1/jobfleet_bench_backlog npx tsx bench/bounded-reads.ts
 */
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { createDatabase } from '../src/db/database.js';
import type { EventHub } from '../src/events/event-hub.js';
import { openEventStream } from '../src/events/event-stream.js';
import { createHistoryCounts } from '../src/metrics/history-counts.js';
import { createJobFigures, readLiveJobs } from '../src/metrics/job-figures.js';

const { values: options } = parseArgs({ options: { unbounded: { type: 'string', default: '100000' } } });
const db = createDatabase({ connectionString: process.env.DATABASE_URL!, poolMax: 2, applicationName: 'bench-bounded-reads' });
const quietHub: EventHub = { subscribe: () => () => {}, closed: new Promise(() => {}), close: async () => {} };

async function timed<T>(label: string, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const answer = await run();
  console.log(`${label.padEnd(64)} ${(performance.now() - started).toFixed(0).padStart(7)} ms`);
  return answer;
}

/** The statements a scrape ran over claude_jobs and transitions before the one pass. */
const BEFORE = {
  'jobs by kind and status': sql`SELECT kind, status, count(*) FROM claude_jobs GROUP BY kind, status`,
  'transitions by entity and status': sql`SELECT entity_type, to_status, count(*) FROM transitions GROUP BY 1, 2`,
  'usage by kind': sql`SELECT kind, sum(input_tokens), sum(output_tokens), sum(cost_usd) FROM claude_jobs GROUP BY kind`,
  'duration histogram': sql`SELECT kind, count(*), sum(extract(epoch from finished_at - started_at)),
    count(*) FILTER (WHERE extract(epoch from finished_at - started_at) <= 60) FROM claude_jobs
    WHERE status IN ('DONE', 'FAILED') AND started_at IS NOT NULL AND finished_at IS NOT NULL GROUP BY kind`,
  'budget exceeded': sql`SELECT kind, count(*) FROM claude_jobs WHERE status = 'FAILED' AND error->>'code' = 'budget_exceeded' GROUP BY kind`,
};

try {
  const sizes = await sql<{ jobs: string; queued: string; history: string }>`
    SELECT (SELECT count(*) FROM claude_jobs) AS jobs, (SELECT count(*) FROM claude_jobs WHERE status = 'QUEUED') AS queued,
      (SELECT count(*) FROM transitions) AS history`.execute(db);
  console.log('database:', sizes.rows[0]);

  let before = 0;
  for (const [label, statement] of Object.entries(BEFORE)) {
    const started = performance.now();
    await timed(`before: ${label}`, () => statement.execute(db));
    before += performance.now() - started;
  }
  console.log(`${'before: a scrape, Postgres part'.padEnd(64)} ${before.toFixed(0).padStart(7)} ms`);

  const figures = createJobFigures(db);
  await timed("after: job figures, a process's first read", () => figures.read());
  await timed('after: job figures, the next scrape', () => figures.read());
  await timed('after: job figures, a scrape after that', () => figures.read());
  await timed('after: job figures, the live jobs alone', () => readLiveJobs(db));
  for (const statement of [
    sql`SELECT kind, count(*) FROM claude_jobs WHERE status = 'QUEUED' GROUP BY kind`,
    sql`SELECT kind, status, count(*) FROM claude_jobs WHERE status IN ('CLAIMED', 'RUNNING') GROUP BY kind, status`,
  ]) {
    const plan = await sql<{ 'QUERY PLAN': string }>`EXPLAIN ${statement}`.execute(db);
    console.log(plan.rows.map((row) => `  ${row['QUERY PLAN']}`).join('\n'));
  }
  const counts = createHistoryCounts(db);
  await timed("after: history counts, a process's first read", () => counts.read());
  await timed('after: history counts, the next scrape', () => counts.read());

  // A filter that matches a job nobody watches: the replay reads rows and sends none.
  const filter = { job_id: '00000000-0000-4000-8000-000000000000' };
  const replay = (maxReplay: number) =>
    openEventStream({
      db,
      hub: quietHub,
      filter,
      audience: () => true,
      lastEventId: '0',
      maxReplay,
      send: () => {},
      sendTruncated: () => {},
    }).then((stop) => stop());
  const unbounded = Number(options.unbounded);
  await timed(`before: replay from id 0, ${unbounded} rows read (of all)`, () => replay(unbounded));
  await timed('after: replay from id 0, bounded (10,000 rows)', () => replay(10_000));
} finally {
  await db.destroy();
}
