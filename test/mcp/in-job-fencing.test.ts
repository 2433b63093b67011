/**
 * /mcp refuses what a stateless server cannot serve (GET, DELETE), and an in-job write racing the
 * end of its job either lands before the end or is refused: it never lands on an ended job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';
import { finishJobs } from '../../src/jobs/finish-jobs.js';

let env: TestEnv;
let api: ApiHarness;
let worker: string;
let product: string;

beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  worker = await api.token(['worker'], 'fleet');
  product = await createProduct(env.database.db);
});
afterAll(async () => {
  await api?.close();
  await env?.teardown();
});

const ACCEPT = 'application/json, text/event-stream';

async function rpc(token: string, method: string, params: unknown, init: RequestInit = {}) {
  const response = await api.app.request('/mcp', {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, accept: ACCEPT, 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    ...init,
  });
  const text = await response.text();
  const data = text
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => JSON.parse(line.slice(6)));
  return { status: response.status, data, text };
}

const tool = async (token: string, name: string, args: Record<string, unknown>) => {
  const answer = await rpc(token, 'tools/call', { name, arguments: args });
  return answer.data[0]?.result;
};

describe('hostile /mcp', () => {
  it('GET /mcp (stateless: nothing can ever be sent on it) is refused, not held open', async () => {
    const response = await api.app.request('/mcp', {
      method: 'GET',
      headers: { authorization: `Bearer ${worker}`, accept: 'text/event-stream' },
    });
    // The SDK's stateless examples answer 405 here; a 200 SSE stream stays open until the client goes.
    const status = response.status;
    await response.body?.cancel().catch(() => undefined);
    expect(status).toBe(405);
  });
});

describe('in-job writes racing the end of their job', () => {
  it('record_usage does not add to a job that finished while the call was in flight', async () => {
    const [idea] = await createIdeas(env.database.db, product, 1, 'PLAN_READY');
    const posted = await api.call('POST', '/api/v1/jobs', { kind: 'plan_chat', idea_id: idea, payload: { message: 'hi' } });
    expect(posted.status).toBe(202);
    const claimed = await tool(worker, 'wait_for_job', { kinds: ['plan_chat'], wait_seconds: 5 });
    const job = claimed.structuredContent.job;
    expect(job.id).toBe(posted.body.id);
    const row = await env.database.db.selectFrom('claude_jobs').selectAll().where('id', '=', job.id).executeTakeFirstOrThrow();

    let call: Promise<any> | undefined;
    await env.database.db.transaction().execute(async (trx) => {
      const { finished } = await finishJobs(trx, [
        {
          lease: { jobId: row.id, epoch: row.claim_epoch, tokenId: row.claimed_by_token_id! },
          kind: row.kind,
          verdict: { status: 'DONE', result: { text: 'done' } as never },
          output: { text: 'done', data: null, usage: { inputTokens: 10, outputTokens: 1, costUsd: 0.01 }, agent: 'test' },
        },
      ]);
      expect(finished).toHaveLength(1);
      // The job has ended (not committed yet) when the agent reports usage.
      call = tool(worker, 'record_usage', { job_id: row.id, id: 'late', input_tokens: 1000, output_tokens: 1000, cost_usd: 5 });
      await waitFor('record_usage to wait on the finished row', async () => {
        const waiting = await sql<{
          n: number;
        }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%claude_jobs%'`.execute(
          env.database.db,
        );
        return waiting.rows[0]!.n > 0;
      });
    });
    const result = await call!;
    const after = await env.database.db.selectFrom('claude_jobs').selectAll().where('id', '=', row.id).executeTakeFirstOrThrow();
    expect(after.status).toBe('DONE');
    expect({ isError: result.isError ?? false, input_tokens: after.input_tokens }).toEqual({ isError: true, input_tokens: 10 });
  });
});
