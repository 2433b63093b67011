/**
 * A Postgres restart, fast or immediate, is outlived by every process of the fleet: the API
 * answers 503 with Retry-After while Postgres is away, the worker keeps its agents running and
 * records their outcomes once Postgres is back, and the sweeper takes the lead again without
 * failing jobs whose leases lapsed only because nobody could renew them during the outage. This file
 * runs its own Postgres server, because restarting the shared one would break every other file.
 */
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Db } from '../../src/db/database.js';
import { TEST_REDIS_PREFIX, testRedisUrl, uniqueSuffix } from '../helpers/names.js';
import { type PrivatePostgres, startPrivatePostgres } from '../helpers/postgres-server.js';
import { type JobfleetProcess, killAll, spawnJobfleet } from '../helpers/processes.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { deleteKeys, FAST_TIMINGS } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

const LEASE_MS = 2_400;
const HEARTBEAT_MS = 800;
const ADMIN_TOKEN = 'restart-admin-token-0123456789abcdef';
const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

let postgres: PrivatePostgres;
let db: Db;
let env: Record<string, string>;
let base: string;
let fleet: JobfleetProcess[];
let product: string;

beforeAll(async () => {
  postgres = await startPrivatePostgres();
  env = {
    ...FAST_TIMINGS,
    DATABASE_URL: postgres.url('jobfleet_restart'),
    REDIS_URL: testRedisUrl(),
    BULLMQ_PREFIX: `${TEST_REDIS_PREFIX}${uniqueSuffix().replace('_', '-')}`,
    PORT: '0',
    ADMIN_TOKEN,
    // Each outage below outlasts a lease; a sweeper that sweeps often would be first to judge them.
    LEASE_MS: String(LEASE_MS),
    HEARTBEAT_MS: String(HEARTBEAT_MS),
    SWEEP_INTERVAL_MS: '100',
    LOG_LEVEL: 'warn',
  };
  const migrate = spawnJobfleet(['migrate'], env);
  expect((await migrate.exited).code, migrate.output()).toBe(0);
  db = createDatabase({ connectionString: env.DATABASE_URL!, poolMax: 2 });
  product = await createProduct(db);

  const api = spawnJobfleet(['api'], env);
  [, base] = (await api.line(/listening on (http:\/\/\S+)\/api\/v1/)) as [string, string];
  const worker = spawnJobfleet(['worker', '--kinds', 'plan_chat', '--concurrency', '20'], env);
  await worker.line(/jobfleet worker \S+ running/);
  const sweeper = spawnJobfleet(['sweeper'], env);
  await sweeper.line(/sweeper running/);
  fleet = [api, worker, sweeper];
}, 120_000);

afterEach(async () => {
  // A failed test must not leave the next one without its server.
  if (!postgres.running) await postgres.start();
});

afterAll(async () => {
  await killAll();
  await db?.destroy();
  if (env) await deleteKeys(env.REDIS_URL!, env.BULLMQ_PREFIX!).catch(() => undefined);
  await postgres?.remove();
});

async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as any };
}

async function enqueueChats(messages: string[], ideas?: string[]): Promise<string[]> {
  ideas ??= await createIdeas(db, product, messages.length, 'PLAN_READY');
  const jobs = ideas.map((idea_id, i) => ({ kind: 'plan_chat', idea_id, payload: { message: messages[i] } }));
  const accepted = await call('POST', '/api/v1/jobs/batch', { jobs });
  expect(accepted.status).toBe(202);
  return accepted.body.jobs.map((job: { id: string }) => job.id);
}

async function statuses(ids: string[]): Promise<string[]> {
  const rows = await db.selectFrom('claude_jobs').select('status').where('id', 'in', ids).execute();
  return rows.map((row) => row.status);
}

/** The API's live event stream of one idea, read until a pattern shows up (or a deadline passes). */
async function liveEvents(ideaId: string) {
  const controller = new AbortController();
  const response = await fetch(`${base}/api/v1/events?idea_id=${ideaId}`, { headers: auth, signal: controller.signal });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  const read = async (pattern: RegExp) => {
    while (!pattern.test(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the event stream ended before ${pattern}:\n${text}`);
      text += value;
    }
  };
  return {
    async until(pattern: RegExp, timeoutMs = 30_000) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no ${pattern} on the event stream within ${timeoutMs} ms:\n${text}`)), timeoutMs);
      });
      await Promise.race([read(pattern), deadline]).finally(() => clearTimeout(timer));
    },
    close: () => controller.abort(),
  };
}

/** The session holding the sweeper's advisory lock, if any. */
async function sweeperLockHolder(): Promise<number | undefined> {
  const { rows } = await sql<{ pid: number }>`
    SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'jobfleet-sweeper-lock'
  `.execute(db);
  return rows[0]?.pid;
}

describe.each(['fast', 'immediate'] as const)('a Postgres restart in %s mode', (mode) => {
  it('is outlived by the API, the worker and the sweeper: 503 meanwhile, every running job done exactly once after', async () => {
    const leaderBefore = await waitFor('the sweeper to lead', sweeperLockHolder);
    // Short agents finish while Postgres is away; long ones are still running when it returns.
    const short = await enqueueChats(Array.from({ length: 4 }, () => 'Quick [dry-run:sleep=3000]'));
    const long = await enqueueChats(Array.from({ length: 4 }, () => 'Slow [dry-run:sleep=9000]'));
    const ids = [...short, ...long];
    await waitFor('every agent to run', async () => (await statuses(ids)).every((status) => status === 'RUNNING'));
    const workerOutput = fleet[1]!.output().length;

    // Requests in flight hold pooled connections when Postgres goes away.
    let loading = true;
    const load = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (loading) await call('GET', `/api/v1/jobs?limit=200`).catch(() => undefined);
      }),
    );
    await postgres.stop(mode);
    const unavailable = await waitFor('the API to answer 503', async () => {
      const answer = await call('GET', `/api/v1/jobs/${ids[0]}`);
      return answer.status === 503 ? answer : undefined;
    }).finally(() => (loading = false));
    await load;
    expect(unavailable.retryAfter).toMatch(/^\d+$/);
    expect(unavailable.body.error.code).toBe('service_unavailable');
    await waitFor('the worker to hold an outcome it could not record yet', () =>
      fleet[1]!.output().slice(workerOutput).includes('could not record the outcome'),
    );
    // Heartbeats fail one HEARTBEAT_MS apart: this many failures mean every lease has lapsed.
    await waitFor("the worker's leases to lapse", () => {
      const failedBeats = fleet[1]!.output().slice(workerOutput).split('heartbeat failed').length - 1;
      return failedBeats > LEASE_MS / HEARTBEAT_MS + 1;
    });
    for (const process of fleet) expect(process.child.exitCode, process.output()).toBeNull();
    await postgres.start();

    const open = ['QUEUED', 'CLAIMED', 'RUNNING'];
    const finished = await waitFor('every job to finish', async () => {
      const now = await statuses(ids);
      return now.some((status) => open.includes(status)) ? undefined : now;
    });
    expect(finished).toEqual(ids.map(() => 'DONE'));
    expect((await call('GET', `/api/v1/jobs/${ids[0]}`)).status).toBe(200);
    const history = await db
      .selectFrom('transitions')
      .select(['entity_id', 'to_status'])
      .where('entity_type', '=', 'CLAUDE_JOB')
      .where('entity_id', 'in', ids)
      .orderBy('id')
      .execute();
    for (const id of ids) {
      expect(history.filter((row) => row.entity_id === id).map((row) => row.to_status)).toEqual(['QUEUED', 'CLAIMED', 'RUNNING', 'DONE']);
    }
    const retries = await db.selectFrom('claude_jobs').select('id').where('retry_of_job_id', 'in', ids).execute();
    expect(retries).toEqual([]);

    // The sweeper leads again, on a new session: the restart ended the old one.
    const leaderAfter = await waitFor('the sweeper to lead again', sweeperLockHolder);
    expect(leaderAfter).not.toBe(leaderBefore);
    // The worker takes new work after the restart, and the sweeper's relay (listening again)
    // brings its events to the API's live stream.
    const [idea] = await createIdeas(db, product, 1, 'PLAN_READY');
    const events = await liveEvents(idea!);
    try {
      await events.until(/event: connected/);
      const [after] = await enqueueChats(['Back again'], [idea!]);
      await waitFor('a job enqueued after the restart to be done', async () => (await statuses([after!]))[0] === 'DONE');
      await events.until(/event: completed/);
    } finally {
      events.close();
    }
    for (const process of fleet) expect(process.child.exitCode, process.output()).toBeNull();
  }, 180_000);
});
