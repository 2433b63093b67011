/**
 * Issue 18, point 4 through a command agent: usage it reports as it runs (`usage` lines, or
 * Claude Code stream-json turns) is counted against the job's budget; at a ceiling
 * (max_cost_usd, max_output_tokens, max_turns) the job fails budget_exceeded with the partial
 * output and usage so far, and the agent, which would have gone on, is stopped. Within its
 * budget the same agent's stream-json run ends DONE.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerPool } from '../../src/workers/worker-pool.js';
import { type LimitsWorld, limitedAgent, startLimitsWorld, waitAllEnded } from '../helpers/limits-world.js';
import { isAlive } from '../helpers/processes.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { waitFor } from '../helpers/wait-for.js';

let world: LimitsWorld;
let product: string;
let dir: string;
let pool: WorkerPool | null = null;

beforeAll(async () => {
  world = await startLimitsWorld({ pools: 0, env: { AGENT: 'command', AGENT_COMMAND: 'true', AGENT_PROVIDER: 'fixture-llm' } });
  product = await createProduct(world.db);
  dir = mkdtempSync(path.join(os.tmpdir(), 'jobfleet-budget-agent-'));
});
afterAll(async () => {
  await pool?.close(5_000);
  await world?.close();
  rmSync(dir, { recursive: true, force: true });
});

const agent = limitedAgent;

async function usePool(command: string): Promise<WorkerPool> {
  await pool?.close(5_000);
  pool = await world.startPool({ kinds: ['IDEA_GRILL'], concurrency: 2, env: { AGENT_COMMAND: command } });
  return pool;
}

async function grills(count: number, budget?: object): Promise<string[]> {
  const ideas = await createIdeas(world.db, product, count, 'DRAFT');
  const { status, body } = await world.api.call('POST', '/api/v1/jobs/batch', {
    jobs: ideas.map((idea_id) => ({ kind: 'idea_grill', idea_id, ...(budget ? { budget } : {}) })),
  });
  expect(status).toBe(202);
  return body.jobs.map((job: { id: string }) => job.id);
}

describe("a command agent's usage against the job's budget", () => {
  /** A command line that writes its pid where the test can watch it, then runs the fixture. */
  const watched = (pidFile: string, mode: string) => `echo $$ > '${pidFile}'; exec ${agent(mode)}`;

  async function overBudget(mode: string, budget: object, ceiling: string) {
    const pidFile = path.join(dir, `${mode}-${ceiling}.pid`);
    await usePool(watched(pidFile, mode));
    const ids = await grills(1, budget);
    const [row] = await waitAllEnded(world.db, ids);
    expect(row!.status).toBe('FAILED');
    const error = row!.error as any;
    expect(error.code).toBe('budget_exceeded');
    expect(error.details.ceiling).toBe(ceiling);
    expect(error.details.partial_output.length).toBeGreaterThan(0);
    expect(row!.output_tokens).toBe(error.details.usage.output_tokens);
    // The agent would have kept streaming: it was stopped, not left to finish.
    expect(existsSync(pidFile)).toBe(true);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    await waitFor(`the agent (pid ${pid}) to be stopped`, () => !isAlive(pid), { timeoutMs: 10_000 });
    return error.details;
  }

  it('usage lines crossing max_cost_usd fail the job budget_exceeded and stop the process', async () => {
    const details = await overBudget('usage_over_budget', { max_cost_usd: 0.05 }, 'max_cost_usd');
    expect(details.usage.cost_usd).toBeGreaterThanOrEqual(0.05);
    expect(details.partial_output).toContain('Part 1 of the answer.');
  });

  it('stream-json usage crossing max_cost_usd does the same', async () => {
    const details = await overBudget('stream_over_budget', { max_cost_usd: 0.05 }, 'max_cost_usd');
    expect(details.usage.cost_usd).toBeGreaterThanOrEqual(0.05);
  });

  it('crossing max_output_tokens does the same', async () => {
    const details = await overBudget('stream_over_budget', { max_output_tokens: 500 }, 'max_output_tokens');
    expect(details.usage.output_tokens).toBeGreaterThanOrEqual(500);
  });

  it('a turn beyond max_turns does the same', async () => {
    const details = await overBudget('stream_over_budget', { max_turns: 2 }, 'max_turns');
    expect(details.usage.turns).toBeGreaterThan(2);
  });

  it('a stream-json run within its budget ends DONE with the result line as its answer and its usage', async () => {
    await usePool(agent('success'));
    const ids = await grills(1, { max_cost_usd: 100 });
    const [row] = await waitAllEnded(world.db, ids);
    expect(row!.status).toBe('DONE');
    expect(Number(row!.cost_usd)).toBeGreaterThan(0);
  });
});
