/**
 * A worker that has not yet learnt whether any owner has a cap of their own (its first look at
 * owner_caps has not answered, or failed) must judge caps anyway: claiming without them, it would
 * start every queued job of an owner whose cap is 1. Here the worker's look at owner_caps always
 * fails, and OWNER_MAX_RUNNING is unset, so only the owner's own row caps them.
 */
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryId } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import { createDryRunExecutor } from '../../src/executors/dry-run.executor.js';
import { setOwnerCap } from '../../src/fairness/owner-caps.js';
import { startWorkerPool, type WorkerPool } from '../../src/workers/worker-pool.js';
import { type ApiHarness, createApiHarness } from '../helpers/api-harness.js';
import { createDryRunGate, type DryRunGate, removeDryRunGates } from '../helpers/dry-run-gate.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

/** Fails every query builder select from owner_caps (the workers' look at whether any owner has a cap). */
class OwnerCapsUnreadable implements KyselyPlugin {
  readonly #failing = new WeakSet<QueryId>();
  transformQuery({ node, queryId }: PluginTransformQueryArgs) {
    if (node.kind === 'SelectQueryNode' && JSON.stringify(node.from).includes('"owner_caps"')) this.#failing.add(queryId);
    return node;
  }
  async transformResult({ queryId, result }: PluginTransformResultArgs) {
    if (this.#failing.has(queryId)) throw new Error('owner_caps cannot be read right now');
    return result;
  }
}

let env: TestEnv;
let api: ApiHarness;
let db: Db;
let pool: WorkerPool | undefined;
const gates: DryRunGate[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  db = env.database.db;
});
afterAll(async () => {
  for (const gate of gates) gate.open();
  await pool?.close(5_000);
  removeDryRunGates();
  await api?.close();
  await env?.teardown();
});

describe("a worker that does not know yet whether owners' caps exist", () => {
  it('holds an owner to their own cap of one', async () => {
    const product = await createProduct(db, 'owner-capped', 'Capped');
    await setOwnerCap(db, 'owner-capped', 1, null);
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const gate = createDryRunGate();
      gates.push(gate);
      const [idea] = await createIdeas(db, product, 1, 'DRAFT', `Grill this. ${gate.marker}`);
      const answer = await api.call('POST', '/api/v1/jobs', { kind: 'idea_grill', idea_id: idea });
      expect(answer.status).toBe(202);
      ids.push(answer.body.id);
    }

    pool = await startWorkerPool({
      config: env.config,
      db: db.withPlugin(new OwnerCapsUnreadable()),
      logger: env.logger,
      executor: createDryRunExecutor(),
      kinds: ['IDEA_GRILL'],
      concurrency: 3,
      version: 'test',
    });

    const queue = api.queues.queue('IDEA_GRILL');
    // Every job has been delivered: it runs, or its delivery waits at the cap.
    const statuses = await waitFor('each job to run or wait at the cap', async () => {
      const rows = await db.selectFrom('claude_jobs').select(['id', 'status']).where('id', 'in', ids).execute();
      const settled = await Promise.all(
        rows.map(async (row) => row.status === 'RUNNING' || (row.status === 'QUEUED' && (await (await queue.getJob(row.id))?.isDelayed()))),
      );
      return settled.every(Boolean) ? rows.map((row) => row.status).sort() : undefined;
    });
    expect(statuses).toEqual(['QUEUED', 'QUEUED', 'RUNNING']);
  });
});
