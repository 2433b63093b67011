/**
 * Issue 19, point 1: an owner's slot is released however a job ends. At OWNER_MAX_RUNNING=1 an
 * owner's first job runs (held by its dry-run gate) and the second waits, parked; the first then
 * ends by one path (done, failed, cancelled, its worker killed, its worker shut down) and the
 * parked job starts. The recheck of parked deliveries is set far beyond any wait here, so only a
 * wake (by the worker that finished, or by the sweeper) can start it. While parked, the job spends
 * no attempt and writes no history. No retries: the parked job is the owner's only other job.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { createDryRunGate, type DryRunGate, removeDryRunGates } from '../helpers/dry-run-gate.js';
import { historySteps, mostHeldInHistory } from '../helpers/owner-slots.js';
import { type JobfleetProcess, killAll, spawnJobfleet } from '../helpers/processes.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

let env: TestEnv;
let api: ApiHarness;
let db: Db;
const workers: JobfleetProcess[] = [];
const gates: DryRunGate[] = [];

beforeAll(async () => {
  env = await createTestEnv({ OWNER_MAX_RUNNING: '1', OWNER_CAP_RECHECK_MS: '600000', JOB_MAX_RETRIES: '0' });
  api = await createApiHarness(env);
  db = env.database.db;
  await spawnJobfleet(['sweeper'], env.env).line(/sweeper running/);
});
afterEach(async () => {
  // Each test has an owner of its own: what it leaves running is no other test's concern.
  for (const gate of gates.splice(0)) gate.open();
  for (const worker of workers.splice(0)) {
    worker.kill('SIGKILL');
    await worker.exited;
  }
});
afterAll(async () => {
  await killAll();
  removeDryRunGates();
  await api?.close();
  await env?.teardown();
});

async function startWorker(extra: Record<string, string> = {}) {
  const worker = spawnJobfleet(['worker', '--kinds', 'idea_grill', '--concurrency', '5'], { ...env.env, ...extra });
  workers.push(worker);
  const [, id] = await worker.line(/jobfleet worker (\S+) running/);
  return Object.assign(worker, { id: id! });
}

const rowOf = (id: string) => db.selectFrom('claude_jobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

const waitStatus = (id: string, status: string, what: string) =>
  waitFor(what, async () => {
    const row = await rowOf(id);
    return row.status === status ? row : undefined;
  });

async function enqueueGrill(product: string, prompt: string): Promise<string> {
  const [idea] = await createIdeas(db, product, 1, 'DRAFT', prompt);
  const posted = await api.call('POST', '/api/v1/jobs', { kind: 'idea_grill', idea_id: idea });
  expect(posted.status).toBe(202);
  return posted.body.id;
}

/**
 * The owner's first job running (its agent held until `first.open()`, and failing when `fails`),
 * and their second parked behind it: QUEUED, its delivery delayed, no attempt, no history.
 */
async function runningAndParked(owner: string, options: { fails?: boolean } = {}) {
  const product = await createProduct(db, owner, `${owner}'s product`);
  const first = createDryRunGate();
  const second = createDryRunGate();
  gates.push(first, second);
  const firstId = await enqueueGrill(product, `First ${first.marker}${options.fails ? ' [dry-run:fail]' : ''}`);
  await waitStatus(firstId, 'RUNNING', 'the first job to run');
  const secondId = await enqueueGrill(product, `Second ${second.marker}`);
  const queue = api.queues.queue('IDEA_GRILL');
  await waitFor('the second job to be parked at the cap', async () => (await queue.getJob(secondId))?.isDelayed());

  const parked = await rowOf(secondId);
  expect([parked.status, parked.attempt_count, parked.claim_epoch]).toEqual(['QUEUED', 0, 0]);
  expect((await historySteps(db, [secondId])).get(secondId)).toEqual(['*>QUEUED']);
  expect((await rowOf(firstId)).status).toBe('RUNNING');
  return { firstId, secondId, first, second };
}

/** The parked job starts, runs once and is done; the owner never held more than its one slot. */
async function expectParkedJobRuns(owner: string, secondId: string, second: DryRunGate) {
  const started = await waitStatus(secondId, 'RUNNING', 'the parked job to start once the slot was free');
  expect(started.attempt_count).toBe(1);
  second.open();
  const done = await waitStatus(secondId, 'DONE', 'the parked job to be done');
  expect(done.attempt_count).toBe(1);
  expect((await historySteps(db, [secondId])).get(secondId)).toEqual(['*>QUEUED', 'QUEUED>CLAIMED', 'CLAIMED>RUNNING', 'RUNNING>DONE']);
  expect(await mostHeldInHistory(db, owner)).toBe(1);
  return done;
}

describe('a slot at OWNER_MAX_RUNNING=1 is released', () => {
  it('when the job is done', async () => {
    await startWorker();
    const { firstId, secondId, first, second } = await runningAndParked('owner-done');
    first.open();
    await waitStatus(firstId, 'DONE', 'the first job to be done');
    await expectParkedJobRuns('owner-done', secondId, second);
  });

  it('when the agent fails', async () => {
    await startWorker();
    const { firstId, secondId, first, second } = await runningAndParked('owner-failed', { fails: true });
    first.open();
    const failed = await waitStatus(firstId, 'FAILED', 'the first job to fail');
    expect((failed.error as { code: string }).code).toBe('agent_failed');
    await expectParkedJobRuns('owner-failed', secondId, second);
  });

  it('when the job is cancelled while it runs', async () => {
    await startWorker();
    const { firstId, secondId, second } = await runningAndParked('owner-cancelled');
    const cancelled = await api.call('POST', `/api/v1/jobs/${firstId}/cancel`, { reason: 'not now' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    await expectParkedJobRuns('owner-cancelled', secondId, second);
  });

  it('when its worker is killed and the sweeper fails the job as lost', async () => {
    const doomed = await startWorker();
    const { firstId, secondId, second } = await runningAndParked('owner-lost');
    const survivor = await startWorker();
    doomed.kill('SIGKILL');
    expect((await doomed.exited).signal).toBe('SIGKILL');
    const lost = await waitStatus(firstId, 'FAILED', 'the sweeper to fail the lost job');
    expect((lost.error as { code: string }).code).toBe('worker_lost');
    const done = await expectParkedJobRuns('owner-lost', secondId, second);
    expect(done.claimed_by_worker_id).toBe(survivor.id);
  });

  it('when its worker shuts down and aborts the agent at its deadline', async () => {
    const stopping = await startWorker({ SHUTDOWN_TIMEOUT_MS: '300' });
    const { firstId, secondId, second } = await runningAndParked('owner-shutdown');
    const survivor = await startWorker();
    stopping.kill('SIGTERM');
    expect((await stopping.exited).code).toBe(0);
    const stopped = await rowOf(firstId);
    expect([stopped.status, (stopped.error as { code: string } | null)?.code]).toEqual(['FAILED', 'worker_shutdown']);
    const done = await expectParkedJobRuns('owner-shutdown', secondId, second);
    expect(done.claimed_by_worker_id).toBe(survivor.id);
  });
});
