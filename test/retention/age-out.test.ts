/**
 * The sweep's retention step on a database of its own per test: rows are written straight in SQL
 * with old timestamps, in the order time would have written them (history ids grow with time),
 * and the step is run as the sweep runs it, a batch per walk.
 */
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import { eventsAfter } from '../../src/events/load-events.js';
import { createLogger } from '../../src/logger.js';
import { type AgeOutReport, ageOut, emptyAgeOutReport, type RetentionPolicy } from '../../src/retention/index.js';
import { idea, inTrx, pbi, product, sprint, sprintRun, step, story, task } from '../helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { waitFor } from '../helpers/wait-for.js';

let test: TestDatabase;
let db: Db;
beforeEach(async () => {
  test = await createTestDatabase({ poolMax: 3 });
  db = test.db;
});
afterEach(async () => {
  await test.drop();
});

const logger = createLogger({ LOG_LEVEL: 'silent' });
const POLICY: RetentionPolicy = { historyDays: 30, jobDays: 90 };

async function sweepOnce(policy: RetentionPolicy = POLICY): Promise<AgeOutReport> {
  const report = emptyAgeOutReport();
  await ageOut({ db, logger, retention: policy }, report);
  return report;
}

const ago = (days: number) => sql<Date>`now() - ${days} * interval '1 day'`;

interface Backlog {
  productId: string;
  ideaId: string;
  /** Every backlog entity: products have no history; the rest do. */
  entities: { type: string; id: string }[];
}

/** A product's backlog, each entity born through the door (with its history), all of it `days` old. */
async function backlog(days: number): Promise<Backlog> {
  const made = await inTrx(db, async (trx) => {
    const p = await product(trx);
    const b = await pbi(trx, p.id);
    const sp = await sprint(trx, p.id);
    const s = await story(trx, b.id, sp.id);
    const t = await task(trx, s.id, sp.id);
    const run = await sprintRun(trx, sp.id);
    const st = await step(trx, run.id);
    const i = await idea(trx, p.id);
    return {
      productId: p.id,
      ideaId: i.id,
      entities: [
        { type: 'PBI', id: b.id },
        { type: 'SPRINT', id: sp.id },
        { type: 'STORY', id: s.id },
        { type: 'TASK', id: t.id },
        { type: 'SPRINT_RUN', id: run.id },
        { type: 'STEP', id: st.id },
        { type: 'IDEA', id: i.id },
      ],
    };
  });
  await sql`UPDATE transitions SET created_at = ${ago(days)}`.execute(db);
  return made;
}

interface JobOptions {
  status: 'QUEUED' | 'RUNNING' | 'DONE' | 'FAILED' | 'CANCELLED' | 'SKIPPED';
  /** Age of the job's creation and of its history rows. */
  days: number;
  /** Age of its end (terminal jobs); its creation's by default. */
  finishedDays?: number;
  retryOf?: string;
}

/** A plan chat job on the idea, with a history row per status it went through, written `days` ago. */
async function job(world: Backlog, { status, days, finishedDays = days, retryOf }: JobOptions): Promise<string> {
  const terminal = !['QUEUED', 'RUNNING'].includes(status);
  const { rows } = await sql<{ id: string }>`
    INSERT INTO claude_jobs (kind, status, idea_id, product_id, owner_id, created_at, finished_at, retry_of_job_id)
    VALUES ('PLAN_CHAT', ${status}, ${world.ideaId}, ${world.productId}, 'owner-a', ${ago(days)},
      ${terminal ? ago(finishedDays) : null}, ${retryOf ?? null})
    RETURNING id
  `.execute(db);
  const id = rows[0]!.id;
  const path =
    status === 'QUEUED' ? ['QUEUED'] : status === 'SKIPPED' || status === 'CANCELLED' ? ['QUEUED', status] : ['QUEUED', 'RUNNING', status];
  const steps = status === 'RUNNING' ? ['QUEUED', 'RUNNING'] : path;
  for (const [index, to] of steps.entries()) {
    await sql`
      INSERT INTO transitions (entity_type, entity_id, from_status, to_status, trigger, created_at)
      VALUES ('CLAUDE_JOB', ${id}, ${index === 0 ? null : steps[index - 1]}, ${to}, 'test', ${ago(days)})
    `.execute(db);
  }
  return id;
}

async function log(world: Backlog, type: string, jobId: string | null, days: number): Promise<string> {
  const { rows } = await sql<{ id: string }>`
    INSERT INTO idea_logs (idea_id, type, content, job_id, created_at)
    VALUES (${world.ideaId}, ${type}, 'text', ${jobId}, ${ago(days)} + interval '1 minute')
    RETURNING id
  `.execute(db);
  return rows[0]!.id;
}

async function askedAndUsed(jobId: string, productId: string): Promise<void> {
  await sql`INSERT INTO job_questions (job_id, product_id, question) VALUES (${jobId}, ${productId}, 'Which one?')`.execute(db);
  await sql`
    INSERT INTO job_usage_records (job_id, id, input_tokens, output_tokens, cost_usd) VALUES (${jobId}, 'u1', 10, 20, 0.01)
  `.execute(db);
}

const jobExists = async (id: string) =>
  (await db.selectFrom('claude_jobs').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
const logExists = async (id: string) =>
  (await db.selectFrom('idea_logs').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
async function historyOf(type: string, id: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM transitions WHERE entity_type = ${type} AND entity_id = ${id}
  `.execute(db);
  return rows[0]!.n;
}
async function count(table: string, where = sql`true`): Promise<number> {
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(table)} WHERE ${where}`.execute(db);
  return rows[0]!.n;
}

/**
 * Sweeps until the walks along history and jobs stand still and several sweeps in a row aged
 * nothing out (the ring walks, held jobs and workers, go round for ever); returns every report.
 */
async function drain(policy: RetentionPolicy, most = 500): Promise<AgeOutReport[]> {
  const reports: AgeOutReport[] = [];
  let positions = '';
  let quiet = 0;
  for (let i = 0; i < most; i += 1) {
    const report = await sweepOnce(policy);
    reports.push(report);
    const now = JSON.stringify(
      await db
        .selectFrom('retention_cursors')
        .select(['name', 'position'])
        .where('name', 'in', ['transitions', 'claude_jobs'])
        .orderBy('name')
        .execute(),
    );
    quiet = Object.values(report).every((n) => n === 0) && now === positions ? quiet + 1 : 0;
    if (quiet === 5) return reports;
    positions = now;
  }
  throw new Error(`retention did not settle in ${most} sweeps`);
}

describe('retention of job traffic', () => {
  it('deletes old finished jobs with their history, job-event logs, questions and usage, and keeps the backlog and its history', async () => {
    const world = await backlog(200);
    const oldJobs: string[] = [];
    for (const status of ['DONE', 'FAILED', 'CANCELLED', 'SKIPPED'] as const) oldJobs.push(await job(world, { status, days: 120 }));
    await askedAndUsed(oldJobs[0]!, world.productId);
    const oldEvent = await log(world, 'JOB_EVENT', oldJobs[1]!, 120);
    const oldChat = await log(world, 'CHAT_MESSAGE', oldJobs[0]!, 120);
    const oldReply = await log(world, 'CHAT_REPLY', oldJobs[0]!, 120);
    const oldPlan = await log(world, 'PLAN_RESULT', oldJobs[1]!, 120);
    // Backlog history written among the old job traffic.
    await sql`
      INSERT INTO transitions (entity_type, entity_id, from_status, to_status, trigger, created_at)
      VALUES ('TASK', ${world.entities[3]!.id}, 'TODO', 'TODO', 'test', ${ago(110)}),
        ('STEP', ${world.entities[5]!.id}, 'PENDING', 'PENDING', 'test', ${ago(110)})
    `.execute(db);
    const liveQueued = await job(world, { status: 'QUEUED', days: 100 });
    const liveRunning = await job(world, { status: 'RUNNING', days: 100 });
    // Finished 40 days ago: the job stays (90 days), its history goes (30 days).
    const middle = await job(world, { status: 'DONE', days: 40 });
    const middleEvent = await log(world, 'JOB_EVENT', middle, 40);
    const young = await job(world, { status: 'DONE', days: 10 });
    const backlogHistory = await Promise.all(world.entities.map((entity) => historyOf(entity.type, entity.id)));

    await drain(POLICY);

    for (const id of oldJobs) {
      expect(await jobExists(id)).toBe(false);
      expect(await historyOf('CLAUDE_JOB', id)).toBe(0);
    }
    expect(await count('job_questions')).toBe(0);
    expect(await count('job_usage_records')).toBe(0);
    expect(await logExists(oldEvent)).toBe(false);
    // The idea's own content stays, even where it names a job that went.
    for (const id of [oldChat, oldReply, oldPlan, middleEvent]) expect(await logExists(id)).toBe(true);
    for (const id of [liveQueued, liveRunning]) {
      expect(await jobExists(id)).toBe(true);
      expect(await historyOf('CLAUDE_JOB', id)).toBe(0);
    }
    expect(await jobExists(middle)).toBe(true);
    expect(await historyOf('CLAUDE_JOB', middle)).toBe(0);
    expect(await jobExists(young)).toBe(true);
    expect(await historyOf('CLAUDE_JOB', young)).toBe(3);
    expect(await Promise.all(world.entities.map((entity) => historyOf(entity.type, entity.id)))).toEqual(backlogHistory);
    expect(backlogHistory.every((n) => n > 0)).toBe(true);
    for (const table of ['products', 'pbis', 'stories', 'tasks', 'sprints', 'sprint_runs', 'steps', 'ideas']) {
      expect(await count(table), table).toBe(1);
    }
  });

  it('deletes at most one batch per walk in a sweep, and later sweeps drain the rest', async () => {
    const world = await backlog(200);
    const jobs: string[] = [];
    for (let i = 0; i < 7; i += 1) jobs.push(await job(world, { status: 'DONE', days: 120 }));
    for (let i = 0; i < 5; i += 1) await job(world, { status: 'DONE', days: 50 });
    const historyBefore = await count('transitions', sql`entity_type = 'CLAUDE_JOB'`);

    const first = await sweepOnce({ ...POLICY, batch: 3 });
    expect(first.agedOutJobs).toBe(3);
    // The history walk read 3 rows: the backlog's oldest, so it deleted none yet.
    expect(await count('claude_jobs')).toBe(12 - 3);

    const reports = [first, ...(await drain({ ...POLICY, batch: 3 }))];
    for (const report of reports) expect(report.agedOutJobs).toBeLessThanOrEqual(3);
    expect(reports.filter((report) => report.agedOutJobs > 0).length).toBe(3);
    // Through the history walk: never more than a batch of rows per sweep.
    const byWalk = reports.map((report) => report.agedOutHistory - 3 * report.agedOutJobs);
    for (const n of byWalk) expect(n).toBeLessThanOrEqual(3);
    for (const id of jobs) expect(await jobExists(id)).toBe(false);
    expect(await count('claude_jobs')).toBe(5);
    expect(await count('transitions', sql`entity_type = 'CLAUDE_JOB'`)).toBe(0);
    expect(historyBefore).toBe(12 * 3);
    expect(reports.reduce((sum, report) => sum + report.agedOutHistory, 0)).toBe(historyBefore);
  });

  it('keeps everything when both retentions are forever', async () => {
    const world = await backlog(4000);
    const old = await job(world, { status: 'DONE', days: 3000 });
    const event = await log(world, 'JOB_EVENT', old, 3000);
    await drain({ historyDays: null, jobDays: null, batch: 2 });
    expect(await jobExists(old)).toBe(true);
    expect(await historyOf('CLAUDE_JOB', old)).toBe(3);
    expect(await logExists(event)).toBe(true);
  });

  it('keeps jobs for ever but ages their history out when only the jobs are kept for ever', async () => {
    const world = await backlog(4000);
    const old = await job(world, { status: 'DONE', days: 3000 });
    await drain({ historyDays: 30, jobDays: null });
    expect(await jobExists(old)).toBe(true);
    expect(await historyOf('CLAUDE_JOB', old)).toBe(0);
  });

  it('deletes an original whose retry is kept, and the retry keeps its row and history', async () => {
    const world = await backlog(200);
    const original = await job(world, { status: 'FAILED', days: 120 });
    const retry = await job(world, { status: 'DONE', days: 5, retryOf: original });
    const reports = await drain(POLICY);
    expect(reports.reduce((sum, report) => sum + report.agedOutJobs, 0)).toBe(1);
    expect(await jobExists(original)).toBe(false);
    const kept = await db.selectFrom('claude_jobs').select(['retry_of_job_id', 'status']).where('id', '=', retry).executeTakeFirstOrThrow();
    expect(kept).toEqual({ retry_of_job_id: original, status: 'DONE' });
    expect(await historyOf('CLAUDE_JOB', retry)).toBe(3);
  });

  it('passes an old job still live, and deletes it once it finished long enough ago', async () => {
    const world = await backlog(200);
    const stuck = await job(world, { status: 'QUEUED', days: 150 });
    const later = await job(world, { status: 'DONE', days: 120 });
    await drain(POLICY);
    expect(await jobExists(stuck)).toBe(true);
    expect(await jobExists(later)).toBe(false);
    expect(await count('retention_held_jobs')).toBe(1);

    // Cancelled, but only now: it stays until it is JOB_RETENTION_DAYS past its end.
    await sql`UPDATE claude_jobs SET status = 'CANCELLED', finished_at = now() WHERE id = ${stuck}`.execute(db);
    await drain(POLICY);
    expect(await jobExists(stuck)).toBe(true);

    await sql`UPDATE claude_jobs SET finished_at = ${ago(91)} WHERE id = ${stuck}`.execute(db);
    await drain(POLICY);
    expect(await jobExists(stuck)).toBe(false);
    expect(await count('retention_held_jobs')).toBe(0);
  });

  it('holds a job judged due that changed before its delete, so the walk passing it does not leave it for good', async () => {
    const world = await backlog(200);
    const changing = await job(world, { status: 'DONE', days: 120 });
    // Another transaction holds the row while the walk judges it due; the delete waits for it,
    // and finds it no longer due once that transaction moved its end to now.
    let commit!: () => void;
    const committed = new Promise<void>((resolve) => {
      commit = resolve;
    });
    let updated!: () => void;
    const holding = new Promise<void>((resolve) => {
      updated = resolve;
    });
    const other = db.transaction().execute(async (trx) => {
      await sql`UPDATE claude_jobs SET finished_at = now() WHERE id = ${changing}`.execute(trx);
      updated();
      await committed;
    });
    await holding;
    const sweeping = sweepOnce();
    await waitFor('the delete to wait on the row', async () => {
      const { rows } = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%DELETE FROM claude_jobs%'
      `.execute(db);
      return rows[0]!.n > 0;
    });
    commit();
    await other;
    await sweeping;
    expect(await jobExists(changing)).toBe(true);
    expect(await count('retention_held_jobs', sql`job_id = ${changing}`)).toBe(1);
  });

  it('leaves a replay of the event stream from an id that aged out going on from the next id', async () => {
    const world = await backlog(200);
    const old = await job(world, { status: 'DONE', days: 120 });
    const { rows } = await sql<{ id: string }>`
      SELECT id FROM transitions WHERE entity_type = 'CLAUDE_JOB' AND entity_id = ${old} ORDER BY id LIMIT 1
    `.execute(db);
    const gone = rows[0]!.id;
    await job(world, { status: 'DONE', days: 1 });
    await drain(POLICY);
    expect(await historyOf('CLAUDE_JOB', old)).toBe(0);
    const replay = await eventsAfter(db, gone, 100);
    expect(replay.length).toBe(3);
    for (const { event } of replay) expect(BigInt(event.id!)).toBeGreaterThan(BigInt(gone));
  });

  it('ages out schedule firings, expired idempotency keys and workers stopped long ago that hold no job', async () => {
    const world = await backlog(200);
    const { rows: tokens } = await sql<{ id: string }>`
      INSERT INTO api_tokens (name, owner_id, scopes, token_hash, token_prefix)
      VALUES ('w', 'owner-a', ARRAY['worker'], 'hash', 'jf_') RETURNING id
    `.execute(db);
    const token = tokens[0]!.id;
    const worker = async (stoppedDays: number | null) => {
      const { rows } = await sql<{ id: string }>`
        INSERT INTO workers (host, pid, kinds, concurrency, token_id, version, started_at, heartbeat_at, stopped_at)
        VALUES ('h', 1, ARRAY['PLAN_CHAT'], 1, ${token}, 't', ${ago(200)}, ${ago(stoppedDays ?? 0)},
          ${stoppedDays === null ? null : ago(stoppedDays)})
        RETURNING id
      `.execute(db);
      return rows[0]!.id;
    };
    const longGone = await worker(120);
    const holding = await worker(120);
    const recent = await worker(3);
    const live = await worker(null);
    const held = await job(world, { status: 'RUNNING', days: 1 });
    await sql`UPDATE claude_jobs SET claimed_by_worker_id = ${holding}, claimed_at = now() WHERE id = ${held}`.execute(db);

    const { rows: schedules } = await sql<{ id: string }>`
      INSERT INTO schedules (owner_id, product_id, kind, idea_id, every_ms) VALUES ('owner-a', ${world.productId}, 'PLAN_CHAT', ${world.ideaId}, 60000)
      RETURNING id
    `.execute(db);
    for (const days of [200, 120, 95, 10, 0]) {
      await sql`
        INSERT INTO schedule_firings (schedule_id, fired_for, outcome) VALUES (${schedules[0]!.id}, ${ago(days)}, 'skipped')
      `.execute(db);
    }
    for (const [key, expired] of [
      ['a', true],
      ['b', true],
      ['c', false],
    ] as const) {
      await sql`
        INSERT INTO idempotency_keys (token_id, key, request_hash, response_status, response_body, expires_at)
        VALUES (${token}, ${key}, 'h', 202, '{}', ${expired ? ago(1) : sql`now() + interval '1 day'`})
      `.execute(db);
    }

    const reports = await drain({ ...POLICY, batch: 2 });
    const total = (field: keyof AgeOutReport) => reports.reduce((sum, report) => sum + report[field], 0);
    expect(total('agedOutFirings')).toBe(3);
    expect(total('expiredKeys')).toBe(2);
    expect(total('forgottenWorkers')).toBe(1);
    for (const report of reports) expect(report.agedOutFirings).toBeLessThanOrEqual(2);
    expect(await count('schedule_firings')).toBe(2);
    expect((await db.selectFrom('idempotency_keys').select('key').execute()).map((row) => row.key)).toEqual(['c']);
    const workers = (await db.selectFrom('workers').select('id').execute()).map((row) => row.id).sort();
    expect(workers).toEqual([holding, recent, live].sort());
    expect(workers).not.toContain(longGone);
  });
});
