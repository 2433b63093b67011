/**
 * Issue 18, point 1: a provider's rate limit pauses the provider, never the job. 50 grills are
 * enqueued into a window in which the (fake) Messages API answers every request 429 with
 * `retry-after` = the time left; two worker processes (one in this process, one a real
 * `jobfleet worker` child) run 10 at a time. Every job ends DONE with one attempt, the provider
 * went PAUSED then ACTIVE (history and live events), and no request reached the API while the
 * pause was in force. Overloads (529) and server errors (500) end the same way: no job fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiError, type FakeAnthropic, type ReceivedRequest, startFakeAnthropic, textMessage } from '../helpers/fake-anthropic.js';
import { type LimitsWorld, historyOf, providerHistory, startLimitsWorld, waitAllEnded } from '../helpers/limits-world.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { waitFor } from '../helpers/wait-for.js';

const CONCURRENCY = 10;
const HEARTBEAT_MS = 200;
/**
 * How long after a pause is recorded a run may still pass its worker's gate: a worker in another
 * process learns of the pause from Postgres at its gate's next refresh, one heartbeat later (it
 * learns from Redis at once that it must fetch nothing new); 50 ms more for the pause's own
 * transaction, whose recorded time is its start. A run that started later than this must not
 * reach the API while the pause lasts. Runs that passed the gate before may: their requests can
 * arrive late (a loaded machine, a process still warming up), so arrival times alone prove
 * nothing, and the test judges each request by when its run started instead.
 */
const GATE_ALLOWANCE_MS = HEARTBEAT_MS + 50;

let fake: FakeAnthropic;
let world: LimitsWorld;
let product: string;

beforeAll(async () => {
  fake = await startFakeAnthropic({ whenEmpty: textMessage('# questions', { inputTokens: 50, outputTokens: 20 }) });
  world = await startLimitsWorld({
    env: {
      AGENT: 'anthropic',
      ANTHROPIC_API_KEY: 'test-key',
      ANTHROPIC_BASE_URL: fake.baseURL,
      HEARTBEAT_MS: String(HEARTBEAT_MS),
    },
    kinds: ['IDEA_GRILL'],
    concurrency: CONCURRENCY,
  });
  const worker = spawnJobfleet(['worker', '--kinds', 'idea_grill', '--concurrency', String(CONCURRENCY)], world.env.env);
  await worker.line(/jobfleet worker \S+ running/);
  product = await createProduct(world.db);
});
afterAll(async () => {
  await killAll();
  await world?.close();
  await fake?.close();
});

/** Every (paused_at, resume_at) the provider's row showed, sampled until `stop` resolves. */
function samplePauses(stop: Promise<unknown>) {
  const pauses = new Map<number, number>();
  let done = false;
  void stop.finally(() => (done = true));
  const sampling = (async () => {
    while (!done) {
      const row = await world.db.selectFrom('providers').selectAll().where('name', '=', 'anthropic').executeTakeFirst();
      if (row?.status === 'PAUSED' && row.paused_at && row.resume_at) {
        const at = row.paused_at.getTime();
        pauses.set(at, Math.max(pauses.get(at) ?? 0, row.resume_at.getTime()));
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return { pauses, sampling };
}

async function enqueueGrills(count: number): Promise<string[]> {
  const ideas = await createIdeas(world.db, product, count, 'DRAFT');
  const { status, body } = await world.api.call('POST', '/api/v1/jobs/batch', {
    jobs: ideas.map((idea_id) => ({ kind: 'idea_grill', idea_id })),
  });
  expect(status).toBe(202);
  return body.jobs.map((job: { id: string }) => job.id);
}

/** The job a request was made for: its prompt names the idea's title, unique in this file. */
async function jobOfRequest(request: ReceivedRequest, ids: readonly string[]): Promise<string> {
  const title = /Idea: (Idea \d+)\n/.exec(String((request.body.messages as { content: string }[])[0]?.content))?.[1];
  const row = await world.db
    .selectFrom('claude_jobs')
    .innerJoin('ideas', 'ideas.id', 'claude_jobs.idea_id')
    .select('claude_jobs.id')
    .where('ideas.title', '=', title ?? '')
    .where('claude_jobs.id', 'in', [...ids])
    .executeTakeFirstOrThrow();
  return row.id;
}

/** When the run that made a request started: the job's last RUNNING row before the request. */
async function runStartOf(jobId: string, requestAt: number): Promise<number> {
  const starts = (await historyOf(world.db, 'CLAUDE_JOB', jobId))
    .filter((row) => row.to_status === 'RUNNING')
    .map((row) => row.created_at.getTime())
    .filter((at) => at <= requestAt);
  return Math.max(...starts);
}

describe('a rate limit window', () => {
  it('holds 50 jobs until it ends: all done, none failed, no extra attempt, no request while paused', async () => {
    const until = Date.now() + 2_000;
    fake.rateLimitWindow(until);
    const before = fake.requests.length;
    const ids = await enqueueGrills(50);
    const ended = waitAllEnded(world.db, ids, 60_000);
    const { pauses, sampling } = samplePauses(ended);
    const rows = await ended;
    await sampling;

    expect(rows.filter((row) => row.status !== 'DONE').map((row) => [row.id, row.status, row.error])).toEqual([]);
    expect(rows.map((row) => row.attempt_count)).toEqual(rows.map(() => 1));

    // PAUSED then ACTIVE, as many times as it paused, ending ACTIVE. A job may run as soon as the
    // pause's time has passed, before the sweeper records its end: the end is waited for.
    const history = await waitFor('the last pause to be recorded as ended', async () => {
      const rows = (await providerHistory(world.db, 'anthropic')).filter((row) => row.from_status !== null);
      return rows.at(-1)?.to_status === 'ACTIVE' ? rows : undefined;
    });
    expect(history.length).toBeGreaterThanOrEqual(2);
    history.forEach((row, i) => {
      expect(row.to_status).toBe(i % 2 === 0 ? 'PAUSED' : 'ACTIVE');
      expect(row.trigger).toBe(i % 2 === 0 ? 'rate_limited' : 'pause_ended');
    });
    await waitFor('provider_paused, then provider_resumed, as live events', () => {
      const types = world.events.filter((owned) => owned.event.entity === 'provider').map((owned) => owned.event.type);
      const paused = types.indexOf('provider_paused');
      return paused >= 0 && types.lastIndexOf('provider_resumed') > paused;
    });

    // Every request answered 429 gave its job back (its attempt not counted); so did deliveries a
    // worker held when it learnt of the pause, without a request. Each job succeeded by one request.
    const requests = fake.requests.slice(before);
    const refused = requests.filter((request) => request.at < until);
    const givenBack = await world.db
      .selectFrom('transitions')
      .select('entity_id')
      .where('entity_type', '=', 'CLAUDE_JOB')
      .where('entity_id', 'in', ids)
      .where('trigger', '=', 'provider_paused')
      .execute();
    expect(refused.length).toBeGreaterThan(0);
    expect(givenBack.length).toBeGreaterThanOrEqual(refused.length);
    const givenBackJobs = new Set(givenBack.map((row) => row.entity_id));
    for (const request of refused) expect(givenBackJobs.has(await jobOfRequest(request, ids))).toBe(true);
    expect(requests.length).toBe(50 + refused.length);
    const waited = await historyOf(world.db, 'CLAUDE_JOB', givenBack[0]!.entity_id);
    expect(waited.find((row) => row.trigger === 'provider_paused')).toMatchObject({ from_status: 'RUNNING', to_status: 'QUEUED' });

    // While a pause lasted, no run that started after it was recorded (plus the gate's allowance)
    // reached the API; the runs that did were already under way, at most one per slot, one each.
    expect(pauses.size).toBeGreaterThan(0);
    for (const [pausedAt, resumeAt] of pauses) {
      expect(resumeAt).toBeGreaterThan(pausedAt);
      const during = requests.filter((request) => request.at >= pausedAt && request.at < resumeAt);
      const runs = await Promise.all(
        during.map(async (request) => {
          const job = await jobOfRequest(request, ids);
          const started = await runStartOf(job, request.at);
          expect(Number.isFinite(started)).toBe(true);
          return { job, startedAfterPause: started - pausedAt };
        }),
      );
      expect(runs.filter((run) => run.startedAfterPause >= GATE_ALLOWANCE_MS)).toEqual([]);
      expect(runs.length).toBeLessThanOrEqual(2 * CONCURRENCY);
      expect(new Set(runs.map((run) => run.job)).size).toBe(runs.length);
    }
  });

  it('529 overloaded and 500 answers back off the provider and fail no job', async () => {
    const before = fake.requests.length;
    fake.respondWith(
      apiError(529, 'overloaded_error'),
      apiError(529, 'overloaded_error'),
      apiError(500, 'api_error'),
      apiError(503, 'api_error'),
      apiError(529, 'overloaded_error'),
    );
    const ids = await enqueueGrills(8);
    const rows = await waitAllEnded(world.db, ids, 60_000);
    expect(rows.filter((row) => row.status !== 'DONE').map((row) => [row.id, row.status, row.error])).toEqual([]);
    expect(rows.map((row) => row.attempt_count)).toEqual(rows.map(() => 1));
    expect(fake.requests.length - before).toBe(8 + 5);
    const history = await providerHistory(world.db, 'anthropic');
    expect(history.some((row) => row.trigger === 'overloaded')).toBe(true);
    await waitFor('the provider to be active again', async () => {
      const { body } = await world.api.call('GET', '/api/v1/providers');
      return body.providers.find((provider: { name: string }) => provider.name === 'anthropic')?.status === 'active';
    });
  });
});
