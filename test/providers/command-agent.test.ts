/**
 * Issue 18, point 3: a command agent speaks provider limits and budgets through its documented
 * protocol (a `provider_limit` line, exit code 75, `usage` lines), and the fleet treats it as it
 * treats the Messages API: a rate limit or exit 75 pauses the provider (AGENT_PROVIDER) and the
 * job ends DONE afterwards, a spend limit pauses until an admin resumes, and usage crossing a
 * job's ceiling fails the job budget_exceeded and stops the process (test/budgets/command-budget.test.ts).
 *
 * The agent is the fixture test/fixtures/agents/limited-agent.mjs. Each scenario's command line
 * decides through a flag file whether this run refuses or answers, so that "the provider
 * answers again" is a fact the test sets, not a timing.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerPool } from '../../src/workers/worker-pool.js';
import {
  heartbeatsPass,
  historyOf,
  jobRows,
  type LimitsWorld,
  limitedAgent,
  providerHistory,
  providerView,
  startLimitsWorld,
  waitAllEnded,
} from '../helpers/limits-world.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { waitFor } from '../helpers/wait-for.js';

const PROVIDER = 'fixture-llm';

let world: LimitsWorld;
let product: string;
let dir: string;
let pool: WorkerPool | null = null;

beforeAll(async () => {
  world = await startLimitsWorld({
    pools: 0,
    // Exit 75 and a rate limit without a time wait PROVIDER_RATE_LIMIT_DEFAULT_MS (300 ms here).
    env: { AGENT: 'command', AGENT_COMMAND: 'true', AGENT_PROVIDER: PROVIDER },
  });
  product = await createProduct(world.db);
  dir = mkdtempSync(path.join(os.tmpdir(), 'jobfleet-limited-agent-'));
});
afterAll(async () => {
  await pool?.close(5_000);
  await world?.close();
  rmSync(dir, { recursive: true, force: true });
});

const agent = limitedAgent;

/** A command line that refuses (mode `refuse`) while `flag` does not exist, then answers normally. */
function refusingUntil(flag: string, refuse: string, refuseExtra: Record<string, string> = {}): string {
  return `if [ -e '${flag}' ]; then exec ${agent('success')}; else exec ${agent(refuse, refuseExtra)}; fi`;
}

/** A command line that refuses the first time it runs and answers every later time. */
function refusingOnce(flag: string, refuse: string, refuseExtra: Record<string, string> = {}): string {
  return `if [ -e '${flag}' ]; then exec ${agent('success')}; else touch '${flag}'; exec ${agent(refuse, refuseExtra)}; fi`;
}

async function usePool(command: string): Promise<WorkerPool> {
  await pool?.close(5_000);
  pool = await world.startPool({ kinds: ['IDEA_GRILL'], concurrency: 2, env: { AGENT_COMMAND: command } });
  return pool;
}

async function grills(count: number): Promise<string[]> {
  const ideas = await createIdeas(world.db, product, count, 'DRAFT');
  const { status, body } = await world.api.call('POST', '/api/v1/jobs/batch', {
    jobs: ideas.map((idea_id) => ({ kind: 'idea_grill', idea_id })),
  });
  expect(status).toBe(202);
  return body.jobs.map((job: { id: string }) => job.id);
}

async function pausesSince(count: number) {
  return (await providerHistory(world.db, PROVIDER)).filter((row) => row.from_status !== null).slice(count);
}

/**
 * The pause and its end since `count` history rows: a job may run as soon as the pause's time has
 * passed, before the sweeper records its end, so the end is waited for.
 */
async function pauseAndEndSince(count: number) {
  return waitFor('the pause and its end in the history', async () => {
    const rows = await pausesSince(count);
    return rows.at(-1)?.to_status === 'ACTIVE' ? rows : undefined;
  });
}

describe('a command agent reporting a provider limit', () => {
  it('a rate limit line pauses the provider; the job ends DONE after the pause, nothing failed', async () => {
    const before = (await pausesSince(0)).length;
    await usePool(refusingOnce(path.join(dir, 'rate-limited'), 'rate_limit', { LIMITED_AGENT_RETRY_AFTER_SECONDS: '1' }));
    const ids = await grills(1);
    const rows = await waitAllEnded(world.db, ids);
    expect(rows.map((row) => [row.status, row.attempt_count])).toEqual([['DONE', 1]]);
    expect((await historyOf(world.db, 'CLAUDE_JOB', ids[0]!)).map((row) => row.trigger)).toContain('provider_paused');
    const history = await pauseAndEndSince(before);
    expect(history.map((row) => [row.to_status, row.trigger])).toEqual([
      ['PAUSED', 'rate_limited'],
      ['ACTIVE', 'pause_ended'],
    ]);
    // The line asked for a second: the pause lasted that long, not the 300 ms default. Its end is
    // reckoned from when the worker read the line, a few milliseconds before the PAUSED row was
    // written, so the rows' times may lie a little under a second apart.
    const [paused, resumed] = history;
    expect(resumed!.created_at.getTime() - paused!.created_at.getTime()).toBeGreaterThanOrEqual(900);
  });

  it('exit 75 alone pauses the provider for the default time, and the job ends DONE', async () => {
    const before = (await pausesSince(0)).length;
    await usePool(refusingOnce(path.join(dir, 'exit-75'), 'exit_75'));
    const ids = await grills(1);
    const rows = await waitAllEnded(world.db, ids);
    expect(rows.map((row) => [row.status, row.attempt_count])).toEqual([['DONE', 1]]);
    expect((await pauseAndEndSince(before)).map((row) => [row.to_status, row.trigger])).toEqual([
      ['PAUSED', 'rate_limited'],
      ['ACTIVE', 'pause_ended'],
    ]);
  });

  it('an overloaded line backs the provider off, and the job ends DONE', async () => {
    const before = (await pausesSince(0)).length;
    await usePool(refusingOnce(path.join(dir, 'overloaded'), 'overloaded'));
    const ids = await grills(1);
    const rows = await waitAllEnded(world.db, ids);
    expect(rows.map((row) => [row.status, row.attempt_count])).toEqual([['DONE', 1]]);
    expect((await pauseAndEndSince(before)).map((row) => row.trigger)).toEqual(['overloaded', 'pause_ended']);
  });

  it('a spend limit line pauses the provider until an admin resumes it', async () => {
    const answering = path.join(dir, 'spend-limit-lifted');
    const runs = path.join(dir, 'spend-limit-runs');
    // Each run appends a line, so the test can count how often the agent was started.
    const live = await usePool(`echo run >> '${runs}'; ${refusingUntil(answering, 'spend_limit')}`);
    const ids = await grills(3);
    await waitFor('the provider to be paused for its spend limit', async () => (await providerView(world, PROVIDER))?.status === 'paused');
    expect(await providerView(world, PROVIDER)).toMatchObject({ status: 'paused', reason: 'spend_limit', until: null });

    await heartbeatsPass(world.db, live.identity.workerId, 10);
    const started = readFileSync(runs, 'utf8').trim().split('\n').length;
    // At most one run per slot met the limit before the hold; none after it.
    expect(started).toBeLessThanOrEqual(2);
    expect((await jobRows(world.db, ids)).map((row) => row.status)).toEqual(ids.map(() => 'QUEUED'));

    writeFileSync(answering, '');
    expect((await world.api.call('POST', `/api/v1/providers/${PROVIDER}/resume`, {})).status).toBe(200);
    const rows = await waitAllEnded(world.db, ids, 30_000);
    expect(rows.map((row) => [row.status, row.attempt_count])).toEqual(ids.map(() => ['DONE', 1]));
  });
});
