/**
 * The volumes of `npm run bench:backlog`, generated with SQL (INSERT ... SELECT generate_series),
 * not by running jobs: a backlog of QUEUED jobs and a history of finished ones, as a fleet that
 * ran for a year or so would hold them.
 *
 * Every QUEUED job has a subject of its own (an idea, or a task for TASK_IMPLEMENTATION jobs): the
 * sweep marks all but the newest QUEUED job of one kind and subject SKIPPED, so a shared subject
 * would destroy the backlog on the first sweep. Owners take their turns per kind as the enqueue
 * path numbers them (src/fairness/turns.ts: consecutive per kind and owner, from 1 in an empty
 * kind), and each job has the history row its enqueue writes (NULL -> QUEUED, 'created').
 * The finished jobs' traffic fills the history: 4 rows per job (created, claimed, started,
 * finished: DONE or FAILED) over the last 45 days. History rows go in in time order, as the
 * transition door appends them (the BRIN index on created_at relies on it).
 */
import { sql } from 'kysely';
import type { Db } from '../src/db/database.js';

export interface Volumes {
  /** QUEUED jobs, one subject each. */
  queued: number;
  /** Finished jobs (4 history rows each). */
  finished: number;
}

export const OWNERS = 20;
const HISTORY_DAYS = 45;
/** The share of subjects that are ideas (the rest are tasks). */
const IDEA_SHARE = 0.8;

/** History rows the volumes make: each subject's creation, each queued job's, 4 per finished job. */
export function historyRowsOf(volumes: Volumes): number {
  return 2 * volumes.queued + 4 * volumes.finished;
}

export async function buildVolumes(db: Db, volumes: Volumes): Promise<void> {
  // One connection (the pool's max is 1): the temp tables and the session's work_mem hold.
  await sql`SET work_mem = '256MB'`.execute(db);
  await sql`SET maintenance_work_mem = '512MB'`.execute(db);
  await createOwners(db);
  await createSubjects(db, volumes.queued);
  await createFinishedJobs(db, volumes.finished);
  await createQueuedJobs(db);
  await writeHistory(db);
  await sql`DROP TABLE bench_subjects, bench_finished, bench_queued`.execute(db);
}

/** Per owner: a product, with one PBI and one story for its tasks to hang from. */
async function createOwners(db: Db) {
  await sql`
    CREATE TEMP TABLE bench_owners AS
    SELECT o AS owner, ${sql.lit('owner-')} || lpad(o::text, 2, '0') AS name,
      gen_random_uuid() AS product, gen_random_uuid() AS pbi, gen_random_uuid() AS story
    FROM generate_series(0, ${OWNERS - 1}) AS o
  `.execute(db);
  const created = sql`now() - ${HISTORY_DAYS + 1} * interval '1 day'`;
  await sql`INSERT INTO products (id, owner_id, name, created_at) SELECT product, name, 'Product ' || owner, ${created} FROM bench_owners`.execute(
    db,
  );
  await sql`INSERT INTO pbis (id, product_id, title, created_at) SELECT pbi, product, 'PBI', ${created} FROM bench_owners`.execute(db);
  await sql`INSERT INTO stories (id, pbi_id, title, created_at) SELECT story, pbi, 'Story', ${created} FROM bench_owners`.execute(db);
}

/**
 * `count` subjects, n = 0 .. count - 1: the first IDEA_SHARE ideas, the rest tasks, spread over
 * the owners, created over the history's days in the order of n.
 */
async function createSubjects(db: Db, count: number) {
  await sql`
    CREATE TEMP TABLE bench_subjects AS
    SELECT n, gen_random_uuid() AS id, n < ${Math.floor(count * IDEA_SHARE)} AS idea, o.owner, o.name AS owner_name, o.product, o.story,
      now() - ${HISTORY_DAYS} * interval '1 day' + (n::float8 / ${count}) * ${HISTORY_DAYS - 1} * interval '1 day' AS c
    FROM generate_series(0, ${count - 1}) AS n JOIN bench_owners o ON o.owner = n % ${OWNERS}
  `.execute(db);
  await sql`CREATE INDEX ON bench_subjects (n)`.execute(db);
  await sql`
    INSERT INTO ideas (id, product_id, title, prompt_text, created_at, updated_at)
    SELECT id, product, 'Idea ' || n, 'Bench.', c, c FROM bench_subjects WHERE idea ORDER BY n
  `.execute(db);
  await sql`
    INSERT INTO tasks (id, story_id, title, implementation_plan, sort_order, created_at, updated_at)
    SELECT id, story, 'Task ' || n, 'Bench.', n, c, c FROM bench_subjects WHERE NOT idea ORDER BY n
  `.execute(db);
}

/** A subject's kind for job n: a task's is TASK_IMPLEMENTATION, an idea's one of three by n. */
const kindOf = (subject: string, n: string) =>
  sql.raw(
    `CASE WHEN ${subject}.idea THEN (ARRAY['IDEA_GRILL', 'PLAN_CHAT', 'IDEA_MAKE_PLAN'])[1 + ${n} % 3] ELSE 'TASK_IMPLEMENTATION' END`,
  );

/**
 * Finished jobs over the history's days, each on a subject drawn from all of them: claimed 0.1 to
 * 30 s after its creation, started 1 to 5 s later, finished 10 s to 10 min after that; 92% DONE.
 */
async function createFinishedJobs(db: Db, count: number) {
  await sql`
    CREATE TEMP TABLE bench_finished AS
    SELECT gen_random_uuid() AS id, g.n, ${kindOf('s', 'g.n')} AS kind, s.id AS subject, s.idea, s.product, s.owner_name,
      g.c, g.claimed, g.claimed + g.start * interval '1 second' AS started, g.claimed + (g.start + g.run) * interval '1 second' AS finished,
      CASE WHEN random() < 0.92 THEN 'DONE' ELSE 'FAILED' END AS status
    FROM (
      SELECT n, c, c + (0.1 + random() * 29.9) * interval '1 second' AS claimed, 1 + random() * 4 AS start, 10 + random() * 590 AS run,
        (n::bigint * 7919) % (SELECT count(*) FROM bench_subjects) AS subject_n
      FROM (
        SELECT n, now() - ${HISTORY_DAYS} * interval '1 day' + random() * (${HISTORY_DAYS} * interval '1 day' - interval '1 hour') AS c
        FROM generate_series(0, ${count - 1}) AS n
      ) AS created
    ) AS g JOIN bench_subjects s ON s.n = g.subject_n
  `.execute(db);
  await sql`
    INSERT INTO claude_jobs (id, kind, status, idea_id, task_id, product_id, owner_id, payload, claim_epoch, attempt_count,
      claimed_at, started_at, finished_at, cost_usd, input_tokens, output_tokens, created_at, updated_at)
    SELECT id, kind, status, CASE WHEN idea THEN subject END, CASE WHEN NOT idea THEN subject END, product, owner_name,
      ${payloadOf('kind')}, 1, 1, claimed, started, finished,
      round((random() * 0.5)::numeric, 6), (random() * 20000)::int, (random() * 4000)::int, c, finished
    FROM bench_finished ORDER BY c
  `.execute(db);
}

/** PLAN_CHAT's payload must carry the message; the other kinds take an empty one. */
const payloadOf = (kind: string) => sql.raw(`CASE WHEN ${kind} = 'PLAN_CHAT' THEN '{"message":"Bench."}'::jsonb ELSE '{}'::jsonb END`);

/**
 * The backlog: job n on subject n, created over the last 30 days (the oldest waiting long, as a
 * backlog held at owners' caps does), turns consecutive per kind and owner in creation order.
 */
async function createQueuedJobs(db: Db) {
  await sql`
    CREATE TEMP TABLE bench_queued AS
    SELECT q.*, row_number() OVER (PARTITION BY q.kind, q.owner_name ORDER BY q.c, q.id) AS turn
    FROM (
      SELECT gen_random_uuid() AS id, s.n, ${kindOf('s', 's.n')} AS kind, s.id AS subject, s.idea, s.product, s.owner_name,
        now() - 30 * interval '1 day' + random() * (30 * interval '1 day' - interval '1 minute') AS c
      FROM bench_subjects s
    ) AS q
  `.execute(db);
  await sql`
    INSERT INTO claude_jobs (id, kind, status, idea_id, task_id, product_id, owner_id, payload, turn, created_at, updated_at)
    SELECT id, kind, 'QUEUED', CASE WHEN idea THEN subject END, CASE WHEN NOT idea THEN subject END, product, owner_name,
      ${payloadOf('kind')}, turn, c, c
    FROM bench_queued ORDER BY c
  `.execute(db);
}

/** Every history row, in time order: the subjects' creation, the queued jobs', 4 per finished job. */
async function writeHistory(db: Db) {
  await sql`
    INSERT INTO transitions (entity_type, entity_id, from_status, to_status, trigger, reason, created_at)
    SELECT entity_type, entity_id, from_status, to_status, trigger, reason, at FROM (
      SELECT CASE WHEN idea THEN 'IDEA' ELSE 'TASK' END AS entity_type, id AS entity_id, NULL AS from_status,
        CASE WHEN idea THEN 'DRAFT' ELSE 'TO_DO' END AS to_status, 'created' AS trigger, NULL AS reason, c AS at
      FROM bench_subjects
      UNION ALL SELECT 'CLAUDE_JOB', id, NULL, 'QUEUED', 'created', 'enqueued', c FROM bench_queued
      UNION ALL SELECT 'CLAUDE_JOB', id, NULL, 'QUEUED', 'created', 'enqueued', c FROM bench_finished
      UNION ALL SELECT 'CLAUDE_JOB', id, 'QUEUED', 'CLAIMED', 'claimed', NULL, claimed FROM bench_finished
      UNION ALL SELECT 'CLAUDE_JOB', id, 'CLAIMED', 'RUNNING', 'started', NULL, started FROM bench_finished
      UNION ALL SELECT 'CLAUDE_JOB', id, 'RUNNING', status, 'finished', NULL, finished FROM bench_finished
    ) AS h
    ORDER BY at
  `.execute(db);
}

export interface VolumeCounts {
  queued: number;
  jobs: number;
  history: number;
  historySize: string;
  jobsSize: string;
}

export async function countVolumes(db: Db): Promise<VolumeCounts> {
  const { rows } = await sql<{ queued: string; jobs: string; history: string; history_size: string; jobs_size: string }>`
    SELECT (SELECT count(*) FROM claude_jobs WHERE status = 'QUEUED') AS queued, (SELECT count(*) FROM claude_jobs) AS jobs,
      (SELECT count(*) FROM transitions) AS history,
      pg_size_pretty(pg_total_relation_size('transitions')) AS history_size,
      pg_size_pretty(pg_total_relation_size('claude_jobs')) AS jobs_size
  `.execute(db);
  const row = rows[0]!;
  return {
    queued: Number(row.queued),
    jobs: Number(row.jobs),
    history: Number(row.history),
    historySize: row.history_size,
    jobsSize: row.jobs_size,
  };
}
