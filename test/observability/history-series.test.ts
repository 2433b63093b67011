/**
 * GET /api/v1/stats/series against a history this file writes row by row, with explicit times
 * (jobs, their transitions, workers), and the API's clock fixed at NOW: every figure is known in
 * advance, and checked exactly, per bucket. The 1h range's buckets start at 11:31:00 (bucket i
 * holds [11:31 + i min, 11:32 + i min)); its last, bucket 59, holds NOW.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/auth/token.repository.js';
import type { JobKind } from '../../src/job-kinds.js';
import { loadHistorySeries } from '../../src/metrics/history-series.js';
import { type ApiHarness, createApiHarness } from '../helpers/api-harness.js';
import { createIdeas, createProduct, createTasks } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

const NOW = new Date('2026-03-10T12:30:30Z');
const at = (time: string, day = '2026-03-10') => `${day}T${time}Z`;
/** The 1h range's bucket holding a time of day on NOW's day. */
const bucket = (time: string) => Math.floor((Date.parse(at(time)) - Date.parse(at('11:31:00'))) / 60_000);

let env: TestEnv;
let api: ApiHarness;
let aliceRead: string;
let bobRead: string;
let workerToken: string;

interface Step {
  from: string | null;
  to: string;
  at: string;
}
interface JobHistory {
  owner: 'alice' | 'bob';
  kind: JobKind;
  status: string;
  steps: Step[];
  usage?: { cost: string; input: number; output: number };
}

/**
 * The history, by job. Created, claimed 10 s later unless said otherwise, running, finished.
 * Queue entries (+) and exits (-) per kind are what the queue depths below follow from.
 */
const JOBS: Record<string, JobHistory> = {
  // grill +1 -1 in bucket 9; runs 11:40:20 (wait 20 s, bucket 9) to 11:41:20 (60 s, bucket 10)
  j1: {
    owner: 'alice',
    kind: 'IDEA_GRILL',
    status: 'DONE',
    steps: [
      { from: null, to: 'QUEUED', at: at('11:40:00') },
      { from: 'QUEUED', to: 'CLAIMED', at: at('11:40:10') },
      { from: 'CLAIMED', to: 'RUNNING', at: at('11:40:20') },
      { from: 'RUNNING', to: 'DONE', at: at('11:41:20') },
    ],
    usage: { cost: '0.5', input: 100, output: 10 },
  },
  // grill +1 -1 in bucket 9; runs 11:40:45 (wait 40 s, bucket 9) to 11:41:50, failed (65 s, bucket 10)
  j2: {
    owner: 'alice',
    kind: 'IDEA_GRILL',
    status: 'FAILED',
    steps: [
      { from: null, to: 'QUEUED', at: at('11:40:05') },
      { from: 'QUEUED', to: 'CLAIMED', at: at('11:40:15') },
      { from: 'CLAIMED', to: 'RUNNING', at: at('11:40:45') },
      { from: 'RUNNING', to: 'FAILED', at: at('11:41:50') },
    ],
    usage: { cost: '0.25', input: 200, output: 20 },
  },
  // task +1 -1 in bucket 9; runs 11:41:00 (wait 30 s, bucket 10) to 11:42:00 (60 s, bucket 11)
  j3: {
    owner: 'bob',
    kind: 'TASK_IMPLEMENTATION',
    status: 'DONE',
    steps: [
      { from: null, to: 'QUEUED', at: at('11:40:30') },
      { from: 'QUEUED', to: 'CLAIMED', at: at('11:40:50') },
      { from: 'CLAIMED', to: 'RUNNING', at: at('11:41:00') },
      { from: 'RUNNING', to: 'DONE', at: at('11:42:00') },
    ],
    usage: { cost: '1', input: 1000, output: 100 },
  },
  // plan chat +1 in bucket 29, still queued
  j4: { owner: 'alice', kind: 'PLAN_CHAT', status: 'QUEUED', steps: [{ from: null, to: 'QUEUED', at: at('12:00:00') }] },
  // grill +1 in bucket 39, still queued
  j5: { owner: 'bob', kind: 'IDEA_GRILL', status: 'QUEUED', steps: [{ from: null, to: 'QUEUED', at: at('12:10:00') }] },
  // grill: queued before the range, -1 in bucket 4; running since 11:35:10 (wait 35 min 10 s, bucket 4)
  j6: {
    owner: 'alice',
    kind: 'IDEA_GRILL',
    status: 'RUNNING',
    steps: [
      { from: null, to: 'QUEUED', at: at('11:00:00') },
      { from: 'QUEUED', to: 'CLAIMED', at: at('11:35:00') },
      { from: 'CLAIMED', to: 'RUNNING', at: at('11:35:10') },
    ],
  },
  // make plan +1 -1 in bucket 49; runs 12:20:30 (wait 30 s, bucket 49); cancelled at 12:25 (no run time: not done or failed)
  j7: {
    owner: 'alice',
    kind: 'IDEA_MAKE_PLAN',
    status: 'CANCELLED',
    steps: [
      { from: null, to: 'QUEUED', at: at('12:20:00') },
      { from: 'QUEUED', to: 'CLAIMED', at: at('12:20:10') },
      { from: 'CLAIMED', to: 'RUNNING', at: at('12:20:30') },
      { from: 'RUNNING', to: 'CANCELLED', at: at('12:25:00') },
    ],
    usage: { cost: '0.125', input: 50, output: 5 },
  },
  // grill: all of it this morning, before the range: only in the day's cost
  j8: {
    owner: 'bob',
    kind: 'IDEA_GRILL',
    status: 'DONE',
    steps: [
      { from: null, to: 'QUEUED', at: at('07:59:00') },
      { from: 'QUEUED', to: 'CLAIMED', at: at('07:59:10') },
      { from: 'CLAIMED', to: 'RUNNING', at: at('07:59:30') },
      { from: 'RUNNING', to: 'DONE', at: at('08:00:00') },
    ],
    usage: { cost: '2', input: 10, output: 1 },
  },
  // task: done yesterday at 23:00 UTC: in the 24h range's first day only
  j9: {
    owner: 'alice',
    kind: 'TASK_IMPLEMENTATION',
    status: 'DONE',
    steps: [
      { from: null, to: 'QUEUED', at: at('22:00:00', '2026-03-09') },
      { from: 'QUEUED', to: 'CLAIMED', at: at('22:00:10', '2026-03-09') },
      { from: 'CLAIMED', to: 'RUNNING', at: at('22:00:20', '2026-03-09') },
      { from: 'RUNNING', to: 'DONE', at: at('23:00:00', '2026-03-09') },
    ],
    usage: { cost: '3', input: 3000, output: 300 },
  },
  // grill: +1 in bucket 19, -1 in bucket 20 (claimed), +1 in bucket 24 (its claim went stale), still queued
  j10: {
    owner: 'alice',
    kind: 'IDEA_GRILL',
    status: 'QUEUED',
    steps: [
      { from: null, to: 'QUEUED', at: at('11:50:00') },
      { from: 'QUEUED', to: 'CLAIMED', at: at('11:51:00') },
      { from: 'CLAIMED', to: 'QUEUED', at: at('11:55:00') },
    ],
  },
  // grill +1 in bucket 49, claimed at 12:31, after NOW (a claim committed between the clock's read and
  // the statement): queued at every bucket's end from 49, the last (NOW) too
  j11: {
    owner: 'alice',
    kind: 'IDEA_GRILL',
    status: 'CLAIMED',
    steps: [
      { from: null, to: 'QUEUED', at: at('12:20:00') },
      { from: 'QUEUED', to: 'CLAIMED', at: at('12:31:00') },
    ],
  },
};

async function writeHistory(): Promise<void> {
  const db = env.database.db;
  const products = { alice: await createProduct(db, 'alice'), bob: await createProduct(db, 'bob') };
  for (const history of Object.values(JOBS)) {
    const product = products[history.owner];
    const subject =
      history.kind === 'TASK_IMPLEMENTATION'
        ? { task_id: (await createTasks(db, product, 1))[0]! }
        : { idea_id: (await createIdeas(db, product, 1))[0]! };
    const created = history.steps[0]!.at;
    const started = history.steps.find((step) => step.to === 'RUNNING')?.at ?? null;
    const finished = history.steps.find((step) => ['DONE', 'FAILED', 'CANCELLED'].includes(step.to))?.at ?? null;
    const { rows } = await sql<{ id: string }>`
      INSERT INTO claude_jobs (kind, status, idea_id, task_id, product_id, owner_id, created_at, started_at, finished_at,
        cost_usd, input_tokens, output_tokens)
      VALUES (${history.kind}, ${history.status}, ${subject.idea_id ?? null}, ${subject.task_id ?? null}, ${product}, ${history.owner},
        ${created}::timestamptz, ${started}::timestamptz, ${finished}::timestamptz,
        ${history.usage?.cost ?? null}::numeric, ${history.usage?.input ?? null}::int, ${history.usage?.output ?? null}::int)
      RETURNING id
    `.execute(db);
    for (const step of history.steps) {
      await sql`
        INSERT INTO transitions (entity_type, entity_id, from_status, to_status, trigger, created_at)
        VALUES ('CLAUDE_JOB', ${rows[0]!.id}, ${step.from}, ${step.to}, 'test', ${step.at}::timestamptz)
      `.execute(db);
    }
  }
}

/**
 * Workers (heartbeats every 200 ms, so a process is alive 600 ms after its last; a pull-mode
 * session PULL_LEASE_MS = 60 s after):
 * - a process from 11:00 that stopped at 12:00: alive at the ends of buckets 0 to 28 (12:00:00);
 * - a process from 11:45:30 beating now: buckets 14 to 59;
 * - a process from 12:05 whose heartbeats stopped at 12:10 (crashed): buckets 33 (ends 12:05:00) to 38;
 * - a pull-mode session from 12:20 that last beat at 12:29: alive to 12:30:00, buckets 48 to 58.
 */
async function writeWorkers(): Promise<void> {
  const db = env.database.db;
  const { id: tokenId } = (await createToken(db, { name: 'workers', ownerId: 'fleet', scopes: ['worker'] })).token;
  const workers = [
    { mode: 'process', started: at('11:00:00'), beat: at('12:00:00'), stopped: at('12:00:00') },
    { mode: 'process', started: at('11:45:30'), beat: new Date(NOW.getTime() - 100).toISOString(), stopped: null },
    { mode: 'process', started: at('12:05:00'), beat: at('12:10:00'), stopped: null },
    { mode: 'pull', started: at('12:20:00'), beat: at('12:29:00'), stopped: null },
  ];
  for (const worker of workers) {
    await sql`
      INSERT INTO workers (host, pid, kinds, concurrency, token_id, version, mode, started_at, heartbeat_at, stopped_at)
      VALUES ('host', 1, ARRAY['IDEA_GRILL'], 1, ${tokenId}, 'test', ${worker.mode}, ${worker.started}::timestamptz,
        ${worker.beat}::timestamptz, ${worker.stopped}::timestamptz)
    `.execute(db);
  }
}

beforeAll(async () => {
  env = await createTestEnv({ PULL_LEASE_MS: '60000' });
  await writeHistory();
  await writeWorkers();
  api = await createApiHarness(env, { clock: () => NOW });
  aliceRead = await api.token(['read'], 'alice');
  bobRead = await api.token(['read'], 'bob');
  workerToken = await api.token(['worker'], 'fleet');
});
afterAll(async () => {
  await api?.close();
  await env?.teardown();
});

async function series(range: string | null, secret = api.adminSecret) {
  const response = await api.call('GET', `/api/v1/stats/series${range === null ? '' : `?range=${range}`}`, undefined, {
    authorization: `Bearer ${secret}`,
  });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
}

/** A per-bucket array of 60 with these values at these buckets, `fill` elsewhere. */
function perBucket(values: Record<number, number | null>, fill: number | null = 0, length = 60): (number | null)[] {
  return Array.from({ length }, (_, i) => (i in values ? values[i]! : fill));
}
/** Buckets first..last (inclusive) at 1. */
function span(first: number, last: number): Record<number, number> {
  return Object.fromEntries(Array.from({ length: last - first + 1 }, (_, k) => [first + k, 1]));
}
function sum(...arrays: (number | null)[][]): number[] {
  return arrays[0]!.map((_, i) => arrays.reduce((total, array) => total + (array[i] ?? 0), 0));
}
/** A kind missing from a map reads as zeros (the contract lets the endpoint leave it out). */
function orZeros<T>(map: Record<string, T>, kind: string, zeros: T): T {
  return map[kind] ?? zeros;
}

describe('GET /api/v1/stats/series over a known history', () => {
  it('frames the 1h range in 60 epoch-aligned buckets of 60 s, the last holding now (the default range)', async () => {
    const body = await series(null);
    expect(body.range).toBe('1h');
    expect(body.bucket_seconds).toBe(60);
    expect(body.from).toBe(at('11:31:00.000'));
    expect(body.to).toBe(NOW.toISOString());
    expect(body.buckets).toHaveLength(60);
    expect(body.buckets[0]).toBe(at('11:31:00.000'));
    expect(body.buckets[59]).toBe(at('12:30:00.000'));
    expect(body.days).toEqual(['2026-03-10']);
  });

  it('counts jobs done and failed per bucket and kind', async () => {
    const body = await series('1h');
    expect(body.throughput.idea_grill).toEqual({
      done: perBucket({ [bucket('11:41:20')]: 1 }),
      failed: perBucket({ [bucket('11:41:50')]: 1 }),
    });
    expect(body.throughput.task_implementation).toEqual({ done: perBucket({ [bucket('11:42:00')]: 1 }), failed: perBucket({}) });
    for (const kind of ['plan_chat', 'idea_make_plan', 'sprint_implementation']) {
      expect(orZeros(body.throughput, kind, { done: perBucket({}), failed: perBucket({}) })).toEqual({
        done: perBucket({}),
        failed: perBucket({}),
      });
    }
  });

  it("follows each kind's queue depth back from what is queued now", async () => {
    const body = await series('1h');
    // j6 queued until bucket 4; j10 queued in bucket 19 only, and again from 24; j5 from 39; j11 from 49.
    expect(body.queue_depth.idea_grill).toEqual(
      sum(perBucket(span(0, 3)), perBucket(span(19, 19)), perBucket(span(24, 59)), perBucket(span(39, 59)), perBucket(span(49, 59))),
    );
    expect(body.queue_depth.plan_chat).toEqual(perBucket(span(29, 59)));
    // Jobs that entered and left the queue within one bucket leave no depth at any bucket's end.
    expect(orZeros(body.queue_depth, 'task_implementation', perBucket({}))).toEqual(perBucket({}));
    expect(orZeros(body.queue_depth, 'idea_make_plan', perBucket({}))).toEqual(perBucket({}));
  });

  it('gives the p50, p95 and p99 of enqueue-to-running and of run time per bucket, null where no job started or ended', async () => {
    const body = await series('1h');
    // Bucket 9 started j1 (20 s) and j2 (40 s): interpolated, p95 = 20 s + 0.95 * 20 s.
    expect(body.wait_ms).toEqual({
      p50: perBucket({ 4: 2_110_000, 9: 30_000, 10: 30_000, 49: 30_000 }, null),
      p95: perBucket({ 4: 2_110_000, 9: 39_000, 10: 30_000, 49: 30_000 }, null),
      p99: perBucket({ 4: 2_110_000, 9: 39_800, 10: 30_000, 49: 30_000 }, null),
    });
    // Bucket 10 ended j1 (60 s) and j2 (65 s); bucket 11 j3 (60 s). j7 was cancelled: no run time.
    expect(body.run_ms).toEqual({
      p50: perBucket({ 10: 62_500, 11: 60_000 }, null),
      p95: perBucket({ 10: 64_750, 11: 60_000 }, null),
      p99: perBucket({ 10: 64_950, 11: 60_000 }, null),
    });
  });

  it("counts the workers alive at each bucket's end: stopped, crashed, beating and pull-mode alike", async () => {
    const body = await series('1h');
    expect(body.workers_alive).toEqual(
      sum(perBucket(span(0, 28)), perBucket(span(14, 59)), perBucket(span(33, 38)), perBucket(span(48, 58))),
    );
  });

  it("adds up each UTC day's cost and tokens by kind and, for an admin, by owner: the whole day, also before the range", async () => {
    const body = await series('1h');
    expect(body.cost_per_day.by_kind).toEqual({
      // j1 + j2 + j8 (this morning)
      idea_grill: { cost_usd: [2.75], input_tokens: [310], output_tokens: [31] },
      task_implementation: { cost_usd: [1], input_tokens: [1000], output_tokens: [100] },
      // j7, cancelled while running
      idea_make_plan: { cost_usd: [0.125], input_tokens: [50], output_tokens: [5] },
    });
    expect(body.cost_per_day.by_owner).toEqual({
      alice: { cost_usd: [0.875], input_tokens: [350], output_tokens: [35] },
      bob: { cost_usd: [3], input_tokens: [1010], output_tokens: [101] },
    });
  });

  it('frames 24h in 144 buckets of 600 s and 7d in 168 of 3600 s, each day of the range in the costs', async () => {
    const day = await series('24h');
    expect(day.bucket_seconds).toBe(600);
    expect(day.buckets).toHaveLength(144);
    expect(day.from).toBe(at('12:40:00.000', '2026-03-09'));
    expect(day.buckets[143]).toBe(at('12:30:00.000'));
    expect(day.days).toEqual(['2026-03-09', '2026-03-10']);
    expect(day.cost_per_day.by_kind.task_implementation).toEqual({
      cost_usd: [3, 1],
      input_tokens: [3000, 1000],
      output_tokens: [300, 100],
    });
    expect(day.cost_per_day.by_owner.alice).toEqual({ cost_usd: [3, 0.875], input_tokens: [3000, 350], output_tokens: [300, 35] });
    // Bucket 138 is 11:40 to 11:50: j1 done, j2 failed. Bucket 134 (11:00) queued j6, 137 claimed it,
    // 139 queued j10 (then claimed and requeued it), 141 (from 12:10:00) queued j5, 142 j11.
    expect(day.throughput.idea_grill.done[138]).toBe(1);
    expect(day.throughput.idea_grill.failed[138]).toBe(1);
    expect(day.queue_depth.idea_grill.slice(133)).toEqual([0, 1, 1, 1, 0, 0, 1, 1, 2, 3, 3]);

    const week = await series('7d');
    expect(week.bucket_seconds).toBe(3600);
    expect(week.buckets).toHaveLength(168);
    expect(week.from).toBe('2026-03-03T13:00:00.000Z');
    expect(week.buckets[167]).toBe(at('12:00:00.000'));
    expect(week.days).toEqual([
      '2026-03-03',
      '2026-03-04',
      '2026-03-05',
      '2026-03-06',
      '2026-03-07',
      '2026-03-08',
      '2026-03-09',
      '2026-03-10',
    ]);
    // Bucket 166 (11:00) ended j1 and j2, bucket 163 (08:00) j8.
    expect(week.throughput.idea_grill.done.slice(163)).toEqual([1, 0, 0, 1, 0]);
    expect(week.cost_per_day.by_kind.idea_grill.cost_usd).toEqual([0, 0, 0, 0, 0, 0, 0, 2.75]);
  });
});

describe('who sees what', () => {
  it("shows a read token its own owner's jobs only, and no costs by owner", async () => {
    const alice = await series('1h', aliceRead);
    expect(alice.throughput.idea_grill).toEqual({ done: perBucket({ 10: 1 }), failed: perBucket({ 10: 1 }) });
    expect(alice.throughput.task_implementation).toBeUndefined();
    // Bob's j5 is not in alice's queue.
    expect(alice.queue_depth.idea_grill).toEqual(
      sum(perBucket(span(0, 3)), perBucket(span(19, 19)), perBucket(span(24, 59)), perBucket(span(49, 59))),
    );
    expect(alice.wait_ms.p50).toEqual(perBucket({ 4: 2_110_000, 9: 30_000, 49: 30_000 }, null));
    expect(alice.run_ms.p50).toEqual(perBucket({ 10: 62_500 }, null));
    expect(alice.cost_per_day).toEqual({
      by_kind: {
        idea_grill: { cost_usd: [0.75], input_tokens: [300], output_tokens: [30] },
        idea_make_plan: { cost_usd: [0.125], input_tokens: [50], output_tokens: [5] },
      },
    });
    // Workers belong to the fleet: every owner sees them all.
    expect(alice.workers_alive).toEqual((await series('1h')).workers_alive);

    const bob = await series('1h', bobRead);
    expect(bob.throughput.idea_grill).toBeUndefined();
    expect(bob.queue_depth.idea_grill).toEqual(perBucket(span(39, 59)));
    expect(bob.queue_depth.plan_chat).toBeUndefined();
    expect(bob.cost_per_day.by_kind.idea_grill).toEqual({ cost_usd: [2], input_tokens: [10], output_tokens: [1] });
    expect(bob.cost_per_day.by_owner).toBeUndefined();
  });

  it("shows a worker token every owner's jobs, without costs by owner (those are for admins)", async () => {
    const worker = await series('1h', workerToken);
    const admin = await series('1h');
    expect(worker.throughput).toEqual(admin.throughput);
    expect(worker.queue_depth).toEqual(admin.queue_depth);
    expect(worker.cost_per_day.by_kind).toEqual(admin.cost_per_day.by_kind);
    expect(worker.cost_per_day.by_owner).toBeUndefined();
  });

  it("never hands one scope's kept answer to another: an owner named '*' is not the fleet-wide scope", async () => {
    // Owner ids are free text; the kept answers must be keyed so that no owner id spells another scope.
    const starRead = await api.token(['read'], '*');
    const worker = await series('24h', workerToken);
    expect(Object.keys(worker.throughput).length).toBeGreaterThan(0);
    const star = await series('24h', starRead);
    expect(star.throughput).toEqual({});
    expect(star.queue_depth).toEqual({});
    expect(star.cost_per_day).toEqual({ by_kind: {} });
  });

  it('refuses a range it does not know with validation_failed, and a call without a token', async () => {
    const bad = await api.call('GET', '/api/v1/stats/series?range=2h');
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe('validation_failed');
    expect(JSON.stringify(bad.body.error)).toContain('range');
    const anonymous = await api.call('GET', '/api/v1/stats/series', undefined, { authorization: '' });
    expect(anonymous.status).toBe(401);
  });

  it('is documented in the OpenAPI document', async () => {
    const doc = await api.call('GET', '/api/v1/openapi.json');
    expect(doc.body.paths['/api/v1/stats/series'].get.parameters.map((p: { name: string }) => p.name)).toEqual(['range']);
  });
});

/**
 * The memo of closed buckets (src/metrics/series-memo.ts): a history that arrives as an API clock
 * moves, 83 s a step, from 23:44:10 UTC across the hour and the day's edge to 00:16, each row
 * written once its time has come (AHEAD_MS early: a transition committed after the clock was
 * read; or, for a quarter of the jobs, LATE_MS late: a long transaction whose rows commit well
 * after the time they carry, within the memo's margin), its job row kept in step. Every answer is compared with the statement run without a memo at
 * the same clock: a call that reads only what changed must give the same figures.
 */
describe('the closed buckets kept between calls', () => {
  const START = Date.parse('2026-03-20T23:44:10Z');
  const STEP_MS = 83_000;
  const STEPS = 24;
  const AHEAD_MS = 10_000;
  const LATE_MS = 90_000;
  const RANGES = ['1h', '24h', '7d'] as const;
  let now = new Date(START);
  let moving: ApiHarness;
  let fleetToken: string;
  const readTokens: Record<string, string> = {};

  interface SimStep {
    from: string | null;
    to: string;
    at: number;
  }
  interface SimJob {
    owner: string;
    kind: JobKind;
    steps: SimStep[];
    cost: string;
    input: number;
    output: number;
    /** How long after its time a step is written (negative: before). */
    lag: number;
    written: number;
    id?: string;
  }
  const KINDS: JobKind[] = ['IDEA_GRILL', 'PLAN_CHAT', 'TASK_IMPLEMENTATION', 'IDEA_MAKE_PLAN'];

  /** Job k's history: a spread of waits (up to 3 min), run times (to 7 min), outcomes, some never claimed, some claims gone stale. */
  function simJob(k: number, created: number, owner: string): SimJob {
    const s = 1000;
    const steps: SimStep[] = [{ from: null, to: 'QUEUED', at: created }];
    let at = created + (5 + ((k * 13) % 170)) * s;
    if (k % 7 !== 6) {
      if (k % 11 === 5) {
        steps.push({ from: 'QUEUED', to: 'CLAIMED', at }, { from: 'CLAIMED', to: 'QUEUED', at: at + 90 * s });
        at += 120 * s;
      }
      steps.push({ from: 'QUEUED', to: 'CLAIMED', at }, { from: 'CLAIMED', to: 'RUNNING', at: at + 2 * s });
      const end = k % 5 === 4 ? 'FAILED' : k % 9 === 8 ? 'CANCELLED' : 'DONE';
      steps.push({ from: 'RUNNING', to: end, at: at + (22 + ((k * 29) % 400)) * s });
    }
    return {
      owner,
      kind: KINDS[k % 4]!,
      steps,
      cost: (0.012345 * ((k % 13) + 1)).toFixed(6),
      input: 100 * k + 7,
      output: 10 * k + 3,
      lag: k % 4 === 1 ? LATE_MS : -AHEAD_MS,
      written: 0,
    };
  }
  const jobs: SimJob[] = [
    // Hours and days back: in the 24h and 7d ranges' closed buckets from the first call on.
    ...Array.from({ length: 8 }, (_, k) => simJob(k, START - (k + 1) * 9_437_000, k % 2 ? 'carol' : 'dave')),
    // Around now: arriving while the clock moves.
    ...Array.from({ length: 40 }, (_, k) => simJob(k, START - 15 * 60_000 + k * 67_000 + ((k * 37) % 23) * 1000, k % 3 ? 'carol' : 'dave')),
  ];
  const products: Record<string, string> = {};

  /** Writes every step up to `until` not written yet, and the job rows as they stand then. */
  async function writeUntil(until: number, list = jobs): Promise<void> {
    const db = env.database.db;
    for (const job of list) {
      const due = job.steps.filter((step, i) => i >= job.written && step.at + job.lag <= until);
      if (due.length === 0) continue;
      const done = job.steps.slice(0, job.written + due.length);
      const last = done[done.length - 1]!;
      const started = done.find((step) => step.to === 'RUNNING')?.at;
      const finished = ['DONE', 'FAILED', 'CANCELLED'].includes(last.to) ? last.at : undefined;
      const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
      const usage = finished === undefined ? { cost: null, input: null, output: null } : job;
      if (job.id === undefined) {
        products[job.owner] ??= await createProduct(db, job.owner);
        const subject =
          job.kind === 'TASK_IMPLEMENTATION'
            ? { task_id: (await createTasks(db, products[job.owner]!, 1))[0]! }
            : { idea_id: (await createIdeas(db, products[job.owner]!, 1))[0]! };
        const { rows } = await sql<{ id: string }>`
          INSERT INTO claude_jobs (kind, status, idea_id, task_id, product_id, owner_id, created_at)
          VALUES (${job.kind}, 'QUEUED', ${subject.idea_id ?? null}, ${subject.task_id ?? null}, ${products[job.owner]!}, ${job.owner},
            ${iso(job.steps[0]!.at)}::timestamptz)
          RETURNING id
        `.execute(db);
        job.id = rows[0]!.id;
      }
      await sql`
        UPDATE claude_jobs SET status = ${last.to}, started_at = ${iso(started)}::timestamptz, finished_at = ${iso(finished)}::timestamptz,
          cost_usd = ${usage.cost}::numeric, input_tokens = ${usage.input}::int, output_tokens = ${usage.output}::int
        WHERE id = ${job.id}
      `.execute(db);
      for (const step of due) {
        await sql`
          INSERT INTO transitions (entity_type, entity_id, from_status, to_status, trigger, created_at)
          VALUES ('CLAUDE_JOB', ${job.id}, ${step.from}, ${step.to}, 'test', ${iso(step.at)}::timestamptz)
        `.execute(db);
      }
      job.written += due.length;
    }
  }

  /**
   * Workers as the clock sees them: one beating all along; one stopping at 00:05; a pull-mode
   * session whose beats end at 23:58 (alive to 23:59, its lease).
   */
  const WORKERS = [
    { mode: 'process', started: Date.parse('2026-03-20T23:00:00Z'), lastBeat: Number.POSITIVE_INFINITY, stops: Number.POSITIVE_INFINITY },
    {
      mode: 'process',
      started: Date.parse('2026-03-20T23:40:00Z'),
      lastBeat: Number.POSITIVE_INFINITY,
      stops: Date.parse('2026-03-21T00:05:00Z'),
    },
    {
      mode: 'pull',
      started: Date.parse('2026-03-20T23:50:00Z'),
      lastBeat: Date.parse('2026-03-20T23:58:00Z'),
      stops: Number.POSITIVE_INFINITY,
    },
  ];
  const workerIds: string[] = [];
  async function beat(at: number): Promise<void> {
    const db = env.database.db;
    if (workerIds.length === 0) {
      const { id: tokenId } = (await createToken(db, { name: 'sim workers', ownerId: 'fleet', scopes: ['worker'] })).token;
      for (const worker of WORKERS) {
        const { rows } = await sql<{ id: string }>`
          INSERT INTO workers (host, pid, kinds, concurrency, token_id, version, mode, started_at, heartbeat_at)
          VALUES ('sim', 2, ARRAY['IDEA_GRILL'], 1, ${tokenId}, 'test', ${worker.mode}, ${new Date(worker.started).toISOString()}::timestamptz,
            ${new Date(worker.started).toISOString()}::timestamptz)
          RETURNING id
        `.execute(db);
        workerIds.push(rows[0]!.id);
      }
    }
    for (const [n, worker] of WORKERS.entries()) {
      if (at < worker.started) continue;
      const beatAt = Math.min(at - 100, worker.lastBeat, worker.stops);
      const stopped = at >= worker.stops ? new Date(worker.stops).toISOString() : null;
      await sql`
        UPDATE workers SET heartbeat_at = ${new Date(beatAt).toISOString()}::timestamptz, stopped_at = ${stopped}::timestamptz
        WHERE id = ${workerIds[n]!}
      `.execute(db);
    }
  }

  async function moveTo(at: number): Promise<void> {
    now = new Date(at);
    await writeUntil(at);
    await beat(at);
  }

  type Scope = { name: string; secret: () => string; ownerId: string | null; byOwner: boolean };
  const SCOPES: Scope[] = [
    { name: 'admin', secret: () => moving.adminSecret, ownerId: null, byOwner: true },
    { name: 'worker', secret: () => fleetToken, ownerId: null, byOwner: false },
    { name: 'carol', secret: () => readTokens.carol!, ownerId: 'carol', byOwner: false },
    { name: 'dave', secret: () => readTokens.dave!, ownerId: 'dave', byOwner: false },
  ];
  const scope = (name: string) => SCOPES.find((s) => s.name === name)!;

  async function viaApi(harness: ApiHarness, range: string, who: Scope) {
    const response = await harness.call('GET', `/api/v1/stats/series?range=${range}`, undefined, {
      authorization: `Bearer ${who === scope('admin') ? harness.adminSecret : who.secret()}`,
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    return response.body;
  }
  /** The statement without a memo: everything read afresh. */
  function cold(range: (typeof RANGES)[number], who: Scope) {
    return loadHistorySeries(env.database.db, {
      range,
      now,
      ownerId: who.ownerId,
      byOwner: who.byOwner,
      aliveWithin: { processMs: env.config.HEARTBEAT_MS * 3, pullMs: env.config.PULL_LEASE_MS },
    });
  }
  const newHarness = () => createApiHarness(env, { clock: () => now });
  const bucketOf = (body: { buckets: string[]; bucket_seconds: number }, at: number) =>
    body.buckets.findIndex((start) => Date.parse(start) <= at && at < Date.parse(start) + body.bucket_seconds * 1000);

  beforeAll(async () => {
    await moveTo(START);
    moving = await newHarness();
    fleetToken = await moving.token(['worker'], 'fleet');
    readTokens.carol = await moving.token(['read'], 'carol');
    readTokens.dave = await moving.token(['read'], 'dave');
  });
  afterAll(async () => {
    await moving?.close();
  });

  it('answers each call as the statement without a memo does, the clock crossing bucket, hour and day edges, per scope', async () => {
    const seen = { queued: 0, doneOpen: 0, days: new Set<string>() };
    for (let step = 0; step < STEPS; step += 1) {
      await moveTo(START + step * STEP_MS);
      for (const range of RANGES) {
        for (const who of SCOPES) {
          const answer = await viaApi(moving, range, who);
          expect(answer, `${range} as ${who.name} at ${now.toISOString()}`).toEqual(await cold(range, who));
          if (range === '1h' && who.name === 'admin') {
            seen.queued = Math.max(seen.queued, ...Object.values(answer.queue_depth as Record<string, number[]>).flat());
            seen.doneOpen += answer.throughput.idea_grill?.done.slice(57).reduce((a: number, b: number) => a + b, 0) ?? 0;
            for (const day of answer.days) seen.days.add(day);
          }
        }
      }
    }
    // The history did move through the buckets: jobs queued, done in the buckets still open, two days.
    expect(seen.queued).toBeGreaterThan(1);
    expect(seen.doneOpen).toBeGreaterThan(0);
    expect([...seen.days]).toEqual(['2026-03-20', '2026-03-21']);
  });

  it('does not read a closed bucket again: a row written into one later shows only without the memo (the accepted staleness), a row in an open bucket shows at once', async () => {
    const T = START + STEPS * STEP_MS;
    await moveTo(T);
    const before = await viaApi(moving, '1h', scope('admin'));
    // A job done (cost 5) wholly inside a bucket that closed minutes ago, written only now: history
    // the fleet never writes (a transition takes its time at its transaction's start, at most a
    // moment before it commits), so the memo rightly does not look back for it.
    const closedAt = Math.floor((T - 10 * 60_000) / 60_000) * 60_000;
    const late: SimJob = {
      owner: 'carol',
      kind: 'IDEA_GRILL',
      steps: [
        { from: null, to: 'QUEUED', at: closedAt + 5_000 },
        { from: 'QUEUED', to: 'CLAIMED', at: closedAt + 10_000 },
        { from: 'CLAIMED', to: 'RUNNING', at: closedAt + 15_000 },
        { from: 'RUNNING', to: 'DONE', at: closedAt + 40_000 },
      ],
      cost: '5.000000',
      input: 5000,
      output: 500,
      lag: 0,
      written: 0,
    };
    // One done (cost 7) 20 s ago: its bucket is open, read afresh by every call.
    const fresh: SimJob = { ...late, cost: '7.000000', steps: late.steps.map((s) => ({ ...s, at: s.at - closedAt + T - 60_000 })) };
    await writeUntil(T, [late, fresh]);
    await moveTo(T + 61_000);

    for (const who of [scope('admin'), scope('carol')]) {
      const kept = await viaApi(moving, '1h', who);
      const full = await cold('1h', who);
      const old = bucketOf(kept, late.steps[3]!.at);
      const open = bucketOf(kept, fresh.steps[3]!.at);
      expect(old).toBeGreaterThan(0);
      expect(open).toBeGreaterThan(old);
      // The closed bucket shows what it showed before the late row.
      expect(kept.throughput.idea_grill.done[old]).toBe(before.throughput.idea_grill?.done[old + 1] ?? 0);
      if (who.name === 'admin') expect(kept.throughput.idea_grill.done[old]).toBe(full.throughput.idea_grill!.done[old]! - 1);
      const expected = structuredClone(full);
      expected.throughput.idea_grill!.done[old]! -= 1;
      expected.wait_ms = kept.wait_ms;
      expected.run_ms = kept.run_ms;
      expected.cost_per_day.by_kind.idea_grill!.cost_usd[1] = kept.cost_per_day.by_kind.idea_grill.cost_usd[1];
      expected.cost_per_day.by_kind.idea_grill!.input_tokens[1]! -= 5000;
      expected.cost_per_day.by_kind.idea_grill!.output_tokens[1]! -= 500;
      if (expected.cost_per_day.by_owner) {
        expected.cost_per_day.by_owner.carol!.cost_usd[1] = kept.cost_per_day.by_owner.carol.cost_usd[1];
        expected.cost_per_day.by_owner.carol!.input_tokens[1]! -= 5000;
        expected.cost_per_day.by_owner.carol!.output_tokens[1]! -= 500;
      }
      // Everything else as a full read: the open bucket's row is in both.
      expect(kept).toEqual(expected);
      expect(kept.cost_per_day.by_kind.idea_grill.cost_usd[1]).toBeCloseTo(full.cost_per_day.by_kind.idea_grill!.cost_usd[1]! - 5, 6);
      expect(kept.throughput.idea_grill.done[open]).toBe(full.throughput.idea_grill!.done[open]);
      expect(kept.throughput.idea_grill.done[open]).toBeGreaterThan(0);
    }
    // On 7d the late row's bucket (this hour) is still open: read afresh, so it shows.
    expect(await viaApi(moving, '7d', scope('admin'))).toEqual(await cold('7d', scope('admin')));
    // And an API process with nothing kept yet reads it all.
    const restarted = await newHarness();
    try {
      expect(await viaApi(restarted, '1h', scope('admin'))).toEqual(await cold('1h', scope('admin')));
    } finally {
      await restarted.close();
    }
  });

  it('keeps each owner scope apart: one scope never answers from what another kept', async () => {
    const T = START + STEPS * STEP_MS + 5 * 60_000;
    await moveTo(T);
    const harness = await newHarness();
    try {
      // The fleet-wide scopes fill their memo first.
      const admin = await viaApi(harness, '24h', scope('admin'));
      expect(admin).toEqual(await cold('24h', scope('admin')));
      // Then dave's job lands late in a bucket closed for them all (24h: 10 min buckets).
      const closedAt = Math.floor((T - 40 * 60_000) / 600_000) * 600_000;
      const late: SimJob = {
        owner: 'dave',
        kind: 'PLAN_CHAT',
        steps: [
          { from: null, to: 'QUEUED', at: closedAt + 5_000 },
          { from: 'QUEUED', to: 'CLAIMED', at: closedAt + 6_000 },
          { from: 'CLAIMED', to: 'RUNNING', at: closedAt + 7_000 },
          { from: 'RUNNING', to: 'FAILED', at: closedAt + 9_000 },
        ],
        cost: '0.500000',
        input: 1,
        output: 1,
        lag: 0,
        written: 0,
      };
      await writeUntil(T, [late]);
      await moveTo(T + 30_000);
      const old = bucketOf(admin, late.steps[3]!.at);
      // Admin answers from its memo: the late failure is not there.
      const keptAdmin = await viaApi(harness, '24h', scope('admin'));
      expect(keptAdmin.throughput.plan_chat.failed[old]).toBe((await cold('24h', scope('admin'))).throughput.plan_chat!.failed[old]! - 1);
      // Dave's first call reads dave's history itself, not admin's kept buckets: the late failure is there,
      // and so for the worker token's fleet-wide scope (no costs by owner: a memo entry of its own).
      for (const who of [scope('dave'), scope('worker')]) {
        const answer = await viaApi(harness, '24h', who);
        expect(answer, who.name).toEqual(await cold('24h', who));
        expect(answer.throughput.plan_chat.failed[old]).toBeGreaterThan(0);
      }
      // Carol's first call: none of dave's jobs.
      const carol = await viaApi(harness, '24h', scope('carol'));
      expect(carol).toEqual(await cold('24h', scope('carol')));
      expect(carol.cost_per_day.by_kind).toEqual((await cold('24h', scope('carol'))).cost_per_day.by_kind);
    } finally {
      await harness.close();
    }
  });
});
