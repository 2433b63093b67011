/**
 * Pull mode (SPEC "Agents talk back"): an MCP session with a worker token is the worker. Against
 * real API and sweeper processes, with no worker process at all: wait_for_job claims as a worker
 * does (bound to the caller's token, a claim epoch, a lease), the session shows in the fleet as a
 * worker of mode `pull`, job_heartbeat renews the lease, update_job_status finishes the job under
 * it; another token is refused with 403, a claim the sweeper took back with 409, and a job whose
 * session stopped beating fails worker_lost like any other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/auth/token.repository.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { startApiProcess, type ApiProcess } from '../helpers/api-process.js';
import { connectMcp, mcpUrl, type McpSession } from '../helpers/mcp-client.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

let env: TestEnv;
let api: ApiHarness;
let server: ApiProcess;
let product: string;
const sessions: McpSession[] = [];

beforeAll(async () => {
  // A pull-mode claim lives 3 s without a heartbeat (room for a few calls); the sweeper looks every 200 ms.
  env = await createTestEnv({ PULL_LEASE_MS: '3000' });
  api = await createApiHarness(env);
  product = await createProduct(env.database.db);
  server = await startApiProcess(env.env);
  const sweeper = spawnJobfleet(['sweeper'], env.env);
  await sweeper.line(/sweeper running/);
});
afterAll(async () => {
  for (const session of sessions) await session.close().catch(() => undefined);
  await killAll();
  await api?.close();
  await env?.teardown();
});

/** A worker token and an MCP session that uses it. */
async function pullWorker(name: string) {
  const { token, secret } = await createToken(env.database.db, { name, ownerId: 'ops', scopes: ['worker'] });
  const session = await connectMcp(mcpUrl(server.url), secret);
  sessions.push(session);
  return { tokenId: token.id, session };
}

async function queuedChat(message: string): Promise<string> {
  const [idea] = await createIdeas(env.database.db, product, 1, 'PLAN_READY');
  const posted = await api.call('POST', `/api/v1/ideas/${idea}/chat`, { message });
  expect(posted.status).toBe(202);
  return posted.body.id;
}

const jobRow = (id: string) => env.database.db.selectFrom('claude_jobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

async function historyOf(id: string) {
  const rows = await env.database.db.selectFrom('transitions').select('to_status').where('entity_id', '=', id).orderBy('id').execute();
  return rows.map((row) => row.to_status);
}

describe('wait_for_job', () => {
  it('answers {job: null} when nothing is queued within wait_seconds', async () => {
    const { session } = await pullWorker('idle session');
    expect(await session.ok('wait_for_job', { wait_seconds: 1 })).toEqual({ job: null });
  });
});

describe('a pull-mode session working a job', () => {
  it('claims it for its token, shows as a pull-mode worker, renews the lease and finishes the job', async () => {
    const id = await queuedChat('Can the export wait?');
    const { tokenId, session } = await pullWorker('session a');

    const claimed = await session.ok('wait_for_job', { kinds: ['plan_chat'], wait_seconds: 10 });
    expect(claimed.job).toMatchObject({ id, kind: 'plan_chat', status: 'running', claim_epoch: 1 });
    expect(claimed.prompt.user).toContain('Can the export wait?');
    expect(typeof claimed.lease_expires_at).toBe('string');
    const row = await jobRow(id);
    expect(row).toMatchObject({ status: 'RUNNING', claim_epoch: 1, claimed_by_token_id: tokenId });
    expect(await historyOf(id)).toEqual(['QUEUED', 'CLAIMED', 'RUNNING']);

    // The session is a worker of the fleet, holding the job.
    const registered = await env.database.db.selectFrom('workers').selectAll().where('token_id', '=', tokenId).execute();
    expect(registered).toHaveLength(1);
    expect(registered[0]).toMatchObject({ id: row.claimed_by_worker_id, mode: 'pull' });
    const fleet = await server.call(api.adminSecret, 'GET', '/api/v1/workers');
    expect(fleet.status).toBe(200);
    const listed = fleet.body.items.find((worker: any) => worker.id === row.claimed_by_worker_id);
    expect(listed).toMatchObject({ mode: 'pull', current_jobs: [{ id, kind: 'plan_chat', status: 'running' }] });

    const beat = await session.ok('job_heartbeat', { job_id: id, claim_epoch: 1 });
    expect(beat).toMatchObject({ cancelled: false, paused: false });
    expect(new Date(beat.lease_expires_at).getTime()).toBeGreaterThan(row.lease_expires_at!.getTime());
    expect((await jobRow(id)).lease_expires_at!.getTime()).toBe(new Date(beat.lease_expires_at).getTime());

    const summary = 'Yes: the export can wait for the next sprint.';
    const done = await session.ok('update_job_status', {
      job_id: id,
      claim_epoch: 1,
      status: 'done',
      summary,
      usage: { input_tokens: 300, output_tokens: 40, cost_usd: 0.02 },
    });
    expect(done.job).toMatchObject({ id, status: 'done', usage: { input_tokens: 300, output_tokens: 40 } });
    const job = (await api.call('GET', `/api/v1/jobs/${id}`)).body;
    expect(job).toMatchObject({ status: 'done', usage: { input_tokens: 300, output_tokens: 40 } });
    expect(job.usage.cost_usd).toBeCloseTo(0.02, 6);
    expect(JSON.stringify(job.result)).toContain(summary);
    expect(await historyOf(id)).toEqual(['QUEUED', 'CLAIMED', 'RUNNING', 'DONE']);
  });

  it("refuses another token's update_job_status with 403, and the job stays its holder's", async () => {
    const id = await queuedChat('Who owns this?');
    const holder = await pullWorker('holder');
    const other = await pullWorker('other');
    await holder.session.ok('wait_for_job', { kinds: ['plan_chat'], wait_seconds: 10 });

    const refused = await other.session.refused('update_job_status', { job_id: id, claim_epoch: 1, status: 'done', summary: 'not mine' });
    expect(refused).toMatchObject({ status: 403, code: 'claim_token_mismatch' });
    expect(refused.message).not.toBe('');
    expect(await jobRow(id)).toMatchObject({ status: 'RUNNING', claimed_by_token_id: holder.tokenId, result: null });

    const done = await holder.session.ok('update_job_status', { job_id: id, claim_epoch: 1, status: 'done', summary: 'mine' });
    expect(done.job.status).toBe('done');
  });

  it('fails worker_lost once the session stops beating, and its late update_job_status with the old epoch gets 409', async () => {
    const id = await queuedChat('Anyone still on this?');
    const { session } = await pullWorker('session that goes quiet');
    const claimed = await session.ok('wait_for_job', { kinds: ['plan_chat'], wait_seconds: 10 });
    expect(claimed.job).toMatchObject({ id, claim_epoch: 1 });

    // No heartbeat: the sweeper finds the lease lapsed.
    const lost = await waitFor('the sweeper to fail the job', async () => {
      const row = await jobRow(id);
      return row.status === 'FAILED' ? row : undefined;
    });
    expect(lost.error).toMatchObject({ code: 'worker_lost' });

    const late = await session.refused('update_job_status', { job_id: id, claim_epoch: 1, status: 'done', summary: 'too late' });
    expect(late.status).toBe(409);
    expect(['stale_claim', 'status_conflict']).toContain(late.code);
    expect(await jobRow(id)).toMatchObject({ status: 'FAILED', result: null });
    const heartbeat = await session.refused('job_heartbeat', { job_id: id, claim_epoch: 1 });
    expect(heartbeat.status).toBe(409);

    // Like any lost job it is retried as a new one, which any session may pull.
    const retry = await env.database.db.selectFrom('claude_jobs').selectAll().where('retry_of_job_id', '=', id).executeTakeFirstOrThrow();
    expect(retry.status).toBe('QUEUED');
    const next = await session.ok('wait_for_job', { kinds: ['plan_chat'], wait_seconds: 10 });
    expect(next.job).toMatchObject({ id: retry.id, status: 'running', claim_epoch: 1 });
    const stale = await session.refused('update_job_status', { job_id: retry.id, claim_epoch: 0, status: 'done' });
    expect(stale).toMatchObject({ status: 409, code: 'stale_claim' });
    const done = await session.ok('update_job_status', { job_id: retry.id, claim_epoch: 1, status: 'done', summary: 'picked up again' });
    expect(done.job.status).toBe('done');
  });
});
