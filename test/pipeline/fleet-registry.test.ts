/**
 * The fleet's bookkeeping: workers register and heartbeat; exactly one sweeper leads, and a
 * standby takes over when the leader goes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDryRunExecutor } from '../../src/executors/dry-run.executor.js';
import { createLeadership } from '../../src/sweeper/leadership.js';
import { startWorkerPool } from '../../src/workers/worker-pool.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';
import os from 'node:os';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await killAll();
  await env.teardown();
});

describe('the workers table', () => {
  it('registers a worker with its host, pid, kinds and concurrency, and its heartbeat moves', async () => {
    const db = env.database.db;
    const pool = await startWorkerPool({
      config: env.config,
      db,
      logger: env.logger,
      executor: createDryRunExecutor(),
      kinds: ['IDEA_GRILL', 'PLAN_CHAT'],
      concurrency: 7,
      version: 'test',
    });
    try {
      const row = await db.selectFrom('workers').selectAll().where('id', '=', pool.identity.workerId).executeTakeFirstOrThrow();
      expect(row).toMatchObject({
        host: os.hostname(),
        pid: process.pid,
        kinds: ['IDEA_GRILL', 'PLAN_CHAT'],
        concurrency: 7,
        stopped_at: null,
        token_id: pool.identity.tokenId,
      });
      const first = row.heartbeat_at.getTime();
      await waitFor('a later heartbeat', async () => {
        const again = await db
          .selectFrom('workers')
          .select('heartbeat_at')
          .where('id', '=', pool.identity.workerId)
          .executeTakeFirstOrThrow();
        return again.heartbeat_at.getTime() > first;
      });
      const token = await db.selectFrom('api_tokens').selectAll().where('id', '=', pool.identity.tokenId).executeTakeFirstOrThrow();
      expect(token).toMatchObject({ scopes: ['worker'], revoked_at: null });
    } finally {
      await pool.close(1_000);
    }
    const stopped = await db.selectFrom('workers').select('stopped_at').where('id', '=', pool.identity.workerId).executeTakeFirstOrThrow();
    expect(stopped.stopped_at).not.toBeNull();
  });
});

describe('sweeper leadership', () => {
  it('lets exactly one of several contenders lead, and another take over when it lets go', async () => {
    const contenders = [1, 2, 3].map(() => createLeadership(env.database.url, env.logger));
    try {
      const first = await Promise.all(contenders.map((c) => c.acquire()));
      expect(first.filter(Boolean)).toHaveLength(1);
      const leader = first.indexOf(true);
      expect(await contenders[leader]!.acquire()).toBe(true);

      await contenders[leader]!.release();
      const rest = contenders.filter((_, i) => i !== leader);
      const second = await Promise.all(rest.map((c) => c.acquire()));
      expect(second.filter(Boolean)).toHaveLength(1);
    } finally {
      await Promise.all(contenders.map((c) => c.release()));
    }
  });

  it('passes to a standby sweeper process when the leading one is killed', async () => {
    const logs = { ...env.env, LOG_LEVEL: 'info' };
    const a = spawnJobfleet(['sweeper'], logs);
    await a.line(/this process is the active sweeper/);
    const b = spawnJobfleet(['sweeper'], logs);
    await b.line(/sweeper running/);
    expect(b.output()).not.toContain('this process is the active sweeper');

    a.kill('SIGKILL');
    await a.exited;
    await b.line(/this process is the active sweeper/);
  });
});
