/**
 * `node --import tsx bench/flush-cost.ts`: what a claim flush and a completion flush cost Postgres,
 * without a worker, Redis or a second process on the machine's cores. It enqueues N PLAN_CHAT
 * jobs, then claims and finishes them in batches of B through the same functions a worker's group
 * commits call (claimDeliveries and the kind's prompts; finishJobs), on one connection, and prints
 * per job: that backend's CPU time (from /proc), the statements sent and the WAL bytes written
 * (the server's WAL position: run it under the bench lock). Statements and WAL bytes do not drift
 * with the machine; CPU does. Run it as any benchmark: alone, under the bench lock.
 *
 * Options: --jobs N (20000), --batch B (50). Environment: FLUSH_COST_SETUP_SQL and FLUSH_COST_SQL
 * (statements run before the rows are made and before the flushes: what an index or a storage
 * option costs), FLUSH_COST_EXPLAIN=1 (one claim and one completion flush's statements under
 * EXPLAIN (ANALYZE, BUFFERS, WAL)), FLUSH_COST_PERF=FILE (`perf record` of the backend).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { createConnectionPool } from '../src/db/connection-pool.js';
import type { Database } from '../src/db/database.js';
import { maintenanceUrl } from '../src/db/ensure-database.js';
import { withDefaultUser } from '../src/db/connection-string.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { insertJobs } from '../src/jobs/enqueue-jobs.js';
import { claimDeliveries } from '../src/jobs/claim-jobs.js';
import { finishJobs, type Completion } from '../src/jobs/finish-jobs.js';
import { installedHandlerOf } from '../src/jobs/installed-kinds.js';
import '../src/kinds/index.js';
import type { ClaudeJob } from '../src/db/tables/claude-job.table.js';
import { createIdeas } from './ideas.js';

class RollBack extends Error {}

const { values: options } = parseArgs({
  options: { jobs: { type: 'string', default: '20000' }, batch: { type: 'string', default: '50' } },
});
const JOBS = Number(options.jobs);
const BATCH = Number(options.batch);

const serverUrl = process.env.DATABASE_URL || 'postgres://127.0.0.1:5432/postgres';
const dbName = `jobfleet_flushcost_${process.pid}`;
const dbUrl = Object.assign(new URL(withDefaultUser(serverUrl)), { pathname: `/${dbName}` }).toString();

async function admin(statement: string) {
  const client = new pg.Client({ connectionString: maintenanceUrl(serverUrl) });
  await client.connect();
  await client.query(statement).finally(() => client.end());
}

let statements = 0;
let captured: { sql: string; parameters: readonly unknown[] }[] | null = null;
await admin(`CREATE DATABASE ${pg.escapeIdentifier(dbName)}`);
const db = new Kysely<Database>({
  dialect: new PostgresDialect({ pool: createConnectionPool({ connectionString: dbUrl, max: 1, applicationName: 'flush-cost' }) }),
  log: (event) => {
    statements += 1;
    captured?.push({ sql: event.query.sql, parameters: event.query.parameters });
  },
});

function backendCpu(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
async function walLsn(): Promise<bigint> {
  const { rows } = await sql<{ bytes: string }>`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint::text AS bytes`.execute(db);
  return BigInt(rows[0]!.bytes);
}

try {
  await migrateToLatest(db);
  // FLUSH_COST_SETUP_SQL='a; b': statements run before the rows are made (a table's fillfactor).
  for (const statement of (process.env.FLUSH_COST_SETUP_SQL ?? '').split(';').filter((s) => s.trim())) await sql.raw(statement).execute(db);
  const { id: product } = await db
    .insertInto('products')
    .values({ owner_id: 'bench', name: 'Flush' })
    .returning('id')
    .executeTakeFirstOrThrow();
  const { id: token } = await db
    .insertInto('api_tokens')
    .values({ name: 'worker', owner_id: 'bench', scopes: ['worker'], token_hash: 'x'.repeat(64), token_prefix: 'x' } as never)
    .returning('id')
    .executeTakeFirstOrThrow();
  const ideas = await createIdeas(db, product, JOBS, 'Flush.');
  const queued: string[] = [];
  const enqueuePid = (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(db)).rows[0]!.pid;
  const enqueueFrom = { cpu: backendCpu(enqueuePid), wal: await walLsn(), statements };
  for (let start = 0; start < JOBS; start += 1_000) {
    const requests = ideas
      .slice(start, start + 1_000)
      .map((idea) => ({ kind: 'PLAN_CHAT' as const, subjectId: idea, payload: { message: 'flush' } }));
    const { created } = await db.transaction().execute((trx) => insertJobs(trx, requests, { actorTokenId: null }));
    queued.push(...created.map((job) => job.id));
  }
  const enqueueCost = {
    cpu: backendCpu(enqueuePid) - enqueueFrom.cpu,
    wal: (await walLsn()) - enqueueFrom.wal,
    statements: statements - enqueueFrom.statements,
  };
  // FLUSH_COST_SQL='a; b': statements run before the flushes (what an index costs: DROP INDEX x).
  for (const statement of (process.env.FLUSH_COST_SQL ?? '').split(';').filter((s) => s.trim())) await sql.raw(statement).execute(db);
  await sql`VACUUM ANALYZE`.execute(db);
  const { pid } = (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(db)).rows[0]!;
  const worker = { workerId: '00000000-0000-4000-8000-000000000001', tokenId: token };

  // FLUSH_COST_PERF=file: a perf profile of the backend over the flushes alone.
  const perf = process.env.FLUSH_COST_PERF
    ? spawn('perf', ['record', '-g', '-p', String(pid), '-o', process.env.FLUSH_COST_PERF], { stdio: 'ignore' })
    : null;
  if (perf) await new Promise((resolve) => setTimeout(resolve, 500));
  const totals = { claim: { cpu: 0, statements: 0, wal: 0n, ms: 0 }, finish: { cpu: 0, statements: 0, wal: 0n, ms: 0 } };
  async function measured<T>(phase: 'claim' | 'finish', work: () => Promise<T>): Promise<T> {
    const wal = await walLsn();
    const cpu = backendCpu(pid);
    const before = statements;
    const at = performance.now();
    const result = await work();
    totals[phase].ms += performance.now() - at;
    totals[phase].statements += statements - before;
    totals[phase].cpu += backendCpu(pid) - cpu;
    totals[phase].wal += (await walLsn()) - wal;
    return result;
  }
  const claimFlush = (ids: string[], rollBack = false) =>
    db.transaction().execute(async (trx) => {
      const { claimed } = await claimDeliveries(trx, ids, worker, { leaseMs: null, start: true });
      await installedHandlerOf('PLAN_CHAT').buildPrompts(trx, claimed);
      if (rollBack) throw new RollBack();
      return claimed;
    });
  const completionsOf = (claimed: ClaudeJob[]): Completion[] =>
    claimed.map((job: ClaudeJob) => {
      const output = { text: `reply ${job.id}`, agent: 'dry-run', data: null } as never;
      return {
        lease: { jobId: job.id, epoch: job.claim_epoch, tokenId: job.claimed_by_token_id! },
        kind: 'PLAN_CHAT',
        verdict: installedHandlerOf('PLAN_CHAT').judge(job, output),
        output,
      };
    });
  /** FLUSH_COST_EXPLAIN=1: the statements of one claim and one completion flush in the middle, under EXPLAIN ANALYZE. */
  async function explain(flush: () => Promise<unknown>) {
    captured = [];
    await flush();
    const statementsOfFlush = captured.filter((q) => !/^(begin|commit|rollback)/i.test(q.sql));
    captured = null;
    await db
      .transaction()
      .execute(async (trx) => {
        for (const q of statementsOfFlush) {
          const result = await trx.executeQuery({
            sql: `EXPLAIN (ANALYZE, BUFFERS, WAL, VERBOSE false) ${q.sql}`,
            parameters: q.parameters,
            query: { kind: 'RawNode' },
          } as never);
          process.stdout.write(
            `--- ${q.sql.replace(/\s+/g, ' ').slice(0, 160)}\n${(result.rows as { 'QUERY PLAN': string }[]).map((r) => r['QUERY PLAN']).join('\n')}\n`,
          );
        }
        throw new RollBack();
      })
      .catch((error) => {
        if (!(error instanceof RollBack)) throw error;
      });
  }
  for (let start = 0; start < queued.length; start += BATCH) {
    const ids = queued.slice(start, start + BATCH);
    const explainHere = process.env.FLUSH_COST_EXPLAIN && start === Math.floor(queued.length / 2 / BATCH) * BATCH;
    if (explainHere) {
      process.stdout.write('=== claim flush\n');
      await explain(() =>
        claimFlush(ids, true).catch((e) => {
          if (!(e instanceof RollBack)) throw e;
        }),
      );
    }
    const claimed = await measured('claim', () => claimFlush(ids));
    const completions = completionsOf(claimed);
    if (explainHere) {
      process.stdout.write('=== completion flush\n');
      await explain(() =>
        db
          .transaction()
          .execute(async (trx) => {
            await finishJobs(trx, completions);
            throw new RollBack();
          })
          .catch((e) => {
            if (!(e instanceof RollBack)) throw e;
          }),
      );
    }
    await measured('finish', () => db.transaction().execute((trx) => finishJobs(trx, completions)));
  }
  if (perf) {
    perf.kill('SIGINT');
    await new Promise((resolve) => perf.once('exit', resolve));
  }
  const done = Number((await sql<{ n: string }>`SELECT count(*) AS n FROM claude_jobs WHERE status = 'DONE'`.execute(db)).rows[0]!.n);
  const flushes = Math.ceil(JOBS / BATCH);
  process.stdout.write(
    `enqueue (1,000 per call): Postgres CPU ${Math.round((enqueueCost.cpu / JOBS) * 1e6)} µs/job, ${((enqueueCost.statements * 1000) / JOBS).toFixed(2)} statements/call, WAL ${Math.round(Number(enqueueCost.wal) / JOBS)} B/job\n`,
  );
  for (const phase of ['claim', 'finish'] as const) {
    const t = totals[phase];
    process.stdout.write(
      `${phase}: Postgres CPU ${Math.round((t.cpu / JOBS) * 1e6)} µs/job, ${(t.statements / flushes).toFixed(2)} statements/flush (incl. BEGIN, COMMIT), WAL ${Math.round(Number(t.wal) / JOBS)} B/job, ${(t.ms / flushes).toFixed(2)} ms/flush\n`,
    );
  }
  process.stdout.write(`jobs ${JOBS}, batch ${BATCH}, DONE ${done}\n`);
} finally {
  await db.destroy();
  await admin(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(dbName)} WITH (FORCE)`);
}
