/**
 * Issue 19, point 1: OWNER_MAX_RUNNING holds exactly with several worker processes racing. Three
 * `jobfleet worker` processes (concurrency 10 per kind each) and a sweeper share one database and
 * prefix; owner A queues 30 jobs of two kinds at a cap of 2. The count of A's jobs holding a slot
 * is sampled from Postgres all along, and replayed afterwards from the history: it never exceeds 2.
 * Owner B's jobs run beside A's saturated slots; A's waiting jobs spend no attempt and write no
 * history while they wait.
 *
 * The recheck of parked deliveries is short here on purpose: deliveries bounce between the delayed
 * set and the workers many times, so every one of those returns races for the slots too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { createDryRunGate, removeDryRunGates } from '../helpers/dry-run-gate.js';
import { heartbeatsPass } from '../helpers/limits-world.js';
import { type HeldSampler, heldCount, historySteps, mostHeldInHistory, sampleHeld } from '../helpers/owner-slots.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

let env: TestEnv;
let api: ApiHarness;
let db: Db;
const samplers: HeldSampler[] = [];

beforeAll(async () => {
  env = await createTestEnv({ OWNER_MAX_RUNNING: '2', OWNER_CAP_RECHECK_MS: '300' });
  api = await createApiHarness(env);
  db = env.database.db;
});
afterAll(async () => {
  await Promise.all(samplers.map((sampler) => sampler.stop().catch(() => undefined)));
  await killAll();
  removeDryRunGates();
  await api?.close();
  await env?.teardown();
});

async function enqueue(jobs: object[]): Promise<string[]> {
  const response = await api.call('POST', '/api/v1/jobs/batch', { jobs });
  expect(response.status).toBe(202);
  return response.body.jobs.map((job: { id: string }) => job.id);
}

/** Grills and plan chats of new ideas of this product, every agent held at the marker's gate. */
async function heldJobs(product: string, counts: { grills: number; chats: number }, marker: string): Promise<string[]> {
  const prompt = `Held until the test lets it go ${marker}`;
  const grills = await createIdeas(db, product, counts.grills, 'DRAFT', prompt);
  const chats = await createIdeas(db, product, counts.chats, 'PLAN_READY', prompt);
  return enqueue([
    ...grills.map((idea_id) => ({ kind: 'idea_grill', idea_id })),
    ...chats.map((idea_id) => ({ kind: 'plan_chat', idea_id, payload: { message: `Go on ${marker}` } })),
  ]);
}

const rowsOf = (ids: readonly string[]) =>
  db
    .selectFrom('claude_jobs')
    .selectAll()
    .where('id', 'in', [...ids])
    .execute();

async function waitStatus(ids: readonly string[], status: string, what: string, timeoutMs = 60_000) {
  return waitFor(
    what,
    async () => {
      const rows = await rowsOf(ids);
      return rows.every((row) => row.status === status) ? rows : undefined;
    },
    { timeoutMs },
  );
}

describe('OWNER_MAX_RUNNING=2 with three worker processes racing', () => {
  it("never lets more than 2 of A's jobs hold a slot, runs B's beside them, and A's waiting jobs spend nothing", async () => {
    const productA = await createProduct(db, 'owner-a', 'A');
    const productB = await createProduct(db, 'owner-b', 'B');
    const workers = [1, 2, 3].map(() => spawnJobfleet(['worker', '--kinds', 'idea_grill,plan_chat', '--concurrency', '10'], env.env));
    const workerIds = await Promise.all(workers.map(async (worker) => (await worker.line(/jobfleet worker (\S+) running/))[1]!));
    await spawnJobfleet(['sweeper'], env.env).line(/sweeper running/);

    const sampler = sampleHeld(db, 'owner-a');
    samplers.push(sampler);
    const gateA = createDryRunGate();
    const jobsOfA = await heldJobs(productA, { grills: 20, chats: 10 }, gateA.marker);
    expect(jobsOfA).toHaveLength(30);
    await waitFor("A's jobs to run", async () => (await heldCount(db, 'owner-a')) >= 2);
    expect(await heldCount(db, 'owner-a')).toBe(2);

    // B is held to 2 as well, but not by A's jobs: B's run while A's slots are full.
    const gateB = createDryRunGate();
    const jobsOfB = await heldJobs(productB, { grills: 2, chats: 0 }, gateB.marker);
    await waitStatus(jobsOfB, 'RUNNING', "B's jobs to run beside A's");

    // A while (five heartbeats: several rechecks of every parked delivery), measured by the fleet's beat.
    await heartbeatsPass(db, workerIds[0]!, 5);
    const waiting = (await rowsOf(jobsOfA)).filter((row) => row.status === 'QUEUED');
    expect(waiting).toHaveLength(28);
    expect(waiting.map((row) => [row.attempt_count, row.claim_epoch])).toEqual(waiting.map(() => [0, 0]));
    const waitingSteps = await historySteps(
      db,
      waiting.map((row) => row.id),
    );
    for (const steps of waitingSteps.values()) expect(steps).toEqual(['*>QUEUED']);

    // Let A's agents go: 28 jobs pass through 2 slots, each end racing three processes for the slot.
    gateA.open();
    const doneA = await waitStatus(jobsOfA, 'DONE', "every one of A's jobs to be done");
    gateB.open();
    await waitStatus(jobsOfB, 'DONE', "B's jobs to be done");
    const sampled = await sampler.stop();

    expect(sampled.max).toBe(2);
    expect(await mostHeldInHistory(db, 'owner-a')).toBe(2);
    expect(await mostHeldInHistory(db, 'owner-b')).toBe(2);
    // Each ran once, on its first attempt, with nothing in its history for the waits.
    expect(doneA.map((row) => row.attempt_count)).toEqual(jobsOfA.map(() => 1));
    for (const steps of (await historySteps(db, jobsOfA)).values()) {
      expect(steps).toEqual(['*>QUEUED', 'QUEUED>CLAIMED', 'CLAIMED>RUNNING', 'RUNNING>DONE']);
    }
    // The slots were raced for by more than one process.
    expect(new Set(doneA.map((row) => row.claimed_by_worker_id)).size).toBeGreaterThan(1);
  });
});
