/**
 * Cancelling a job an agent is working on: the worker running it hears of it and kills the
 * agent's process, and nothing the agent might still say is written.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { isAlive, killAll, spawnJobfleet } from '../helpers/processes.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

const AGENT = path.join(import.meta.dirname, '..', 'fixtures', 'agents', 'record-pid-and-sleep.mjs');

let env: TestEnv;
let api: ApiHarness;
let pidDir: string;
beforeAll(async () => {
  pidDir = mkdtempSync(path.join(os.tmpdir(), 'jobfleet-pids-'));
  env = await createTestEnv({
    AGENT: 'command',
    AGENT_COMMAND: `${JSON.stringify(process.execPath)} ${JSON.stringify(AGENT)}`,
    PID_DIR: pidDir,
  });
  api = await createApiHarness(env);
});
afterAll(async () => {
  await killAll();
  await api.close();
  await env.teardown();
  rmSync(pidDir, { recursive: true, force: true });
});

describe('cancelling a running job', () => {
  it("kills the command agent's process, and the job ends cancelled with its idea retryable", async () => {
    const db = env.database.db;
    const [idea] = await createIdeas(db, await createProduct(db), 1, 'DRAFT');
    const worker = spawnJobfleet(['worker', '--kinds', 'idea_grill'], env.env);
    await worker.line(/jobfleet worker \S+ running/);

    const posted = await api.call('POST', '/api/v1/jobs', { kind: 'idea_grill', idea_id: idea });
    const pidFile = path.join(pidDir, `${posted.body.id}.pid`);
    const pid = await waitFor('the agent to start', () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : undefined));
    expect(isAlive(pid)).toBe(true);
    expect((await api.call('GET', `/api/v1/jobs/${posted.body.id}`)).body.status).toBe('running');

    const cancelled = await api.call('POST', `/api/v1/jobs/${posted.body.id}/cancel`, { reason: 'wrong idea' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', error: { code: 'cancelled', message: 'wrong idea' } });

    await waitFor('the agent process to be gone', () => !isAlive(pid), { timeoutMs: 10_000 });
    const job = await db.selectFrom('claude_jobs').selectAll().where('id', '=', posted.body.id).executeTakeFirstOrThrow();
    expect(job).toMatchObject({ status: 'CANCELLED', result: null });
    const idea_ = await db.selectFrom('ideas').select('status').where('id', '=', idea!).executeTakeFirstOrThrow();
    expect(idea_.status).toBe('GRILL_FAILED');
    const history = await db.selectFrom('transitions').select('to_status').where('entity_id', '=', job.id).orderBy('id').execute();
    expect(history.map((h) => h.to_status)).toEqual(['QUEUED', 'CLAIMED', 'RUNNING', 'CANCELLED']);
  });
});
