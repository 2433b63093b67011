/**
 * Issue 19, point 1, in pull mode: an MCP session's `wait_for_job` claims as a worker does, so it
 * admits within the owner's cap too. At OWNER_MAX_RUNNING=1, with owner A's two plan chats queued
 * before owner B's one, a second session is given B's job rather than A's second; a third finds
 * nothing it may take until A's first is done, and then gets A's second.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/auth/token.repository.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { startApiProcess, type ApiProcess } from '../helpers/api-process.js';
import { connectMcp, mcpUrl, type McpSession } from '../helpers/mcp-client.js';
import { mostHeldInHistory } from '../helpers/owner-slots.js';
import { killAll } from '../helpers/processes.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let api: ApiHarness;
let server: ApiProcess;
const sessions: McpSession[] = [];

beforeAll(async () => {
  env = await createTestEnv({ OWNER_MAX_RUNNING: '1', PULL_LEASE_MS: '60000' });
  api = await createApiHarness(env);
  server = await startApiProcess(env.env);
});
afterAll(async () => {
  for (const session of sessions) await session.close().catch(() => undefined);
  await killAll();
  await api?.close();
  await env?.teardown();
});

async function pullSession(name: string): Promise<McpSession> {
  const { secret } = await createToken(env.database.db, { name, ownerId: 'ops', scopes: ['worker'] });
  const session = await connectMcp(mcpUrl(server.url), secret);
  sessions.push(session);
  return session;
}

async function queuedChats(owner: string, count: number): Promise<string[]> {
  const ideas = await createIdeas(env.database.db, await createProduct(env.database.db, owner, owner), count, 'PLAN_READY');
  const ids: string[] = [];
  for (const idea of ideas) {
    const posted = await api.call('POST', `/api/v1/ideas/${idea}/chat`, { message: `A word from ${owner}` });
    expect(posted.status).toBe(202);
    ids.push(posted.body.id);
  }
  return ids;
}

describe('wait_for_job at OWNER_MAX_RUNNING=1', () => {
  it("skips an owner whose slot is taken, takes another owner's job, and takes the first owner's next once the slot is free", async () => {
    const [firstOfA, secondOfA] = await queuedChats('owner-a', 2);
    const [onlyOfB] = await queuedChats('owner-b', 1);

    const one = await pullSession('session one');
    const two = await pullSession('session two');
    const three = await pullSession('session three');

    const first = await one.ok('wait_for_job', { kinds: ['plan_chat'], wait_seconds: 5 });
    expect(first.job).toMatchObject({ id: firstOfA, status: 'running' });
    const second = await two.ok('wait_for_job', { kinds: ['plan_chat'], wait_seconds: 5 });
    expect(second.job).toMatchObject({ id: onlyOfB, status: 'running' });
    expect(await three.ok('wait_for_job', { kinds: ['plan_chat'], wait_seconds: 1 })).toEqual({ job: null });
    const waiting = await env.database.db.selectFrom('claude_jobs').selectAll().where('id', '=', secondOfA!).executeTakeFirstOrThrow();
    expect([waiting.status, waiting.attempt_count]).toEqual(['QUEUED', 0]);

    const done = await one.ok('update_job_status', { job_id: firstOfA, claim_epoch: first.job.claim_epoch, status: 'done', summary: 'ok' });
    expect(done.job.status).toBe('done');
    const third = await three.ok('wait_for_job', { kinds: ['plan_chat'], wait_seconds: 5 });
    expect(third.job).toMatchObject({ id: secondOfA, status: 'running' });
    expect(await mostHeldInHistory(env.database.db, 'owner-a')).toBe(1);
  });
});
