/**
 * /mcp under malformed transport input, sent as plain HTTP (the one place a hand-made request is
 * right: the SDK's client never sends these). A pull-mode session holds a job, so that a call that
 * got through would write something: a body that is not JSON, a NUL inside a tool argument, a body
 * over BODY_LIMIT_BYTES, the other HTTP methods, a JSON-RPC batch. None of it is a 500, none of
 * the refused calls writes, and afterwards the API still answers, to plain HTTP and to the SDK.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/auth/token.repository.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { startApiProcess, type ApiProcess } from '../helpers/api-process.js';
import { connectMcp, mcpUrl, type McpSession } from '../helpers/mcp-client.js';
import { isAlive, killAll } from '../helpers/processes.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

const BODY_LIMIT_BYTES = 4096;

let env: TestEnv;
let api: ApiHarness;
let server: ApiProcess;
let secret: string;
let jobId: string;
const sessions: McpSession[] = [];

beforeAll(async () => {
  env = await createTestEnv({ BODY_LIMIT_BYTES: String(BODY_LIMIT_BYTES) });
  api = await createApiHarness(env);
  server = await startApiProcess(env.env);
  ({ secret } = await createToken(env.database.db, { name: 'pull session', ownerId: 'ops', scopes: ['worker'] }));
  const [idea] = await createIdeas(env.database.db, await createProduct(env.database.db), 1, 'PLAN_READY');
  const posted = await api.call('POST', `/api/v1/ideas/${idea}/chat`, { message: 'Is the export needed?' });
  expect(posted.status).toBe(202);
  // Held by this token in pull mode: report_progress and record_usage with its job_id would write.
  const session = await connectMcp(mcpUrl(server.url), secret);
  sessions.push(session);
  jobId = (await session.ok('wait_for_job', { kinds: ['plan_chat'], wait_seconds: 10 })).job.id;
});
afterAll(async () => {
  for (const session of sessions) await session.close().catch(() => undefined);
  await killAll();
  await api?.close();
  await env?.teardown();
});

interface Answer {
  status: number;
  contentType: string | null;
  text: string;
  /** The JSON body, or the JSON-RPC messages of an event stream. */
  json: any;
}

async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  const contentType = response.headers.get('content-type');
  let json: unknown = null;
  if (contentType?.startsWith('text/event-stream')) {
    json = text
      .split('\n')
      .filter((line) => line.startsWith('data: '))
      .map((line) => JSON.parse(line.slice('data: '.length)));
  } else {
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
  }
  return { status: response.status, contentType, text, json };
}

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** A POST to /mcp with this body as it is, bearing the session's token unless `token` says otherwise. */
async function post(body: string, options: { token?: string | null; chunked?: boolean } = {}): Promise<Answer> {
  const token = options.token === undefined ? secret : options.token;
  const bytes = new TextEncoder().encode(body);
  // Chunked: no Content-Length, the body in two pieces, so the limit is met as it streams.
  const payload = options.chunked
    ? new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(bytes.slice(0, 100));
          controller.enqueue(bytes.slice(100));
          controller.close();
        },
      })
    : body;
  const response = await fetch(mcpUrl(server.url), {
    method: 'POST',
    headers: { ...HEADERS, ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    body: payload,
    ...(options.chunked ? { duplex: 'half' } : {}),
  } as RequestInit);
  return answerOf(response);
}

const rpc = (method: string, params: Record<string, unknown>, id: number = 1) => ({ jsonrpc: '2.0', id, method, params });
const toolCall = (name: string, args: Record<string, unknown>, id = 1, extra: Record<string, unknown> = {}) =>
  rpc('tools/call', { name, arguments: args, ...extra }, id);

/**
 * What a call that got through would have left on the job. (Not its BullMQ log: a job claimed in
 * pull mode has no queue entry left to log to.)
 */
async function written() {
  const db = env.database.db;
  const row = await db.selectFrom('claude_jobs').select('progress').where('id', '=', jobId).executeTakeFirstOrThrow();
  const usage = await db.selectFrom('job_usage_records').select('id').where('job_id', '=', jobId).orderBy('id').execute();
  return { progress: row.progress, usage: usage.map((record) => record.id) };
}

describe('a body that is not JSON', () => {
  it('is answered 400 with a JSON-RPC parse error, and JSON that is no JSON-RPC message with a 400 too', async () => {
    for (const body of ['{"jsonrpc":"2.0",', '', 'tools/list', '\u0000', '{"jsonrpc":"2.0","id":1,"method":"tools/list"}}']) {
      const answer = await post(body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.json, answer.text).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } });
      expect(answer.json.error.message).toMatch(/parse error/i);
    }
    for (const body of ['null', '42', '"tools/list"', '{}', '{"jsonrpc":"2.0"}']) {
      const answer = await post(body);
      expect(answer.status, `${body}: ${answer.text}`).toBe(400);
      expect(answer.json?.error?.code, answer.text).toBeTypeOf('number');
    }
  });

  it('is not read before the caller is known: without a token it is a 401', async () => {
    const answer = await post('{"jsonrpc":"2.0",', { token: null });
    expect(answer.status).toBe(401);
    expect(answer.json.error.code).toBe('unauthorized');
  });
});

describe('a NUL character inside a tool argument', () => {
  it('is refused with 400 naming where it is, and the call writes nothing; the same call without it writes', async () => {
    const before = await written();
    expect(before).toEqual({ progress: null, usage: [] });

    const inValue = await post(JSON.stringify(toolCall('report_progress', { job_id: jobId, message: 'half\u0000way', percent: 50 })));
    expect(inValue.status).toBe(400);
    expect(inValue.json).toMatchObject({ jsonrpc: '2.0', error: { code: -32602 } });
    expect(inValue.json.error.message).toContain('params.arguments.message');
    expect(inValue.json.error.message).toContain('NUL');

    const inId = await post(
      JSON.stringify(toolCall('record_usage', { job_id: jobId, id: 'turn\u00001', input_tokens: 1, output_tokens: 1, cost_usd: 0 })),
    );
    expect(inId.status).toBe(400);
    expect(inId.json.error.message).toContain('params.arguments.id');

    const inKey = await post(JSON.stringify(toolCall('report_progress', { job_id: jobId, message: 'fine', 'note\u0000': 'x' })));
    expect(inKey.status).toBe(400);
    expect(inKey.json.error.message).toContain('NUL');

    expect(await written()).toEqual(before);

    // The refusal is what kept them out: the same hand-made call without the NUL goes through.
    const clean = await post(JSON.stringify(toolCall('report_progress', { job_id: jobId, message: 'halfway', percent: 50 })));
    expect(clean.status, clean.text).toBe(200);
    expect(clean.json).toEqual([
      expect.objectContaining({ id: 1, result: expect.objectContaining({ structuredContent: expect.objectContaining({ ok: true }) }) }),
    ]);
    expect((await written()).progress).toMatchObject({ message: 'halfway', percent: 50 });
  });
});

describe('a body larger than BODY_LIMIT_BYTES', () => {
  /** A record_usage call padded (in _meta, which no tool reads) to `bytes` or more. */
  const padded = (usageId: string, bytes: number) =>
    JSON.stringify(
      toolCall('record_usage', { job_id: jobId, id: usageId, input_tokens: 5, output_tokens: 1, cost_usd: 0 }, 1, {
        _meta: { padding: 'x'.repeat(bytes) },
      }),
    );

  it('is refused with 413 by its Content-Length and, when chunked, as it streams in; the call is not run', async () => {
    const before = await written();
    for (const chunked of [false, true]) {
      const answer = await post(padded(`big-${chunked}`, BODY_LIMIT_BYTES + 1), { chunked });
      expect(answer.status, `chunked: ${chunked}: ${answer.text}`).toBe(413);
      expect(answer.json.error).toMatchObject({ code: 'payload_too_large', details: { limit: BODY_LIMIT_BYTES } });
    }
    expect(await written()).toEqual(before);

    // Under the limit, the same call runs.
    const small = await post(padded('small', 1000), { chunked: true });
    expect(small.status, small.text).toBe(200);
    expect((await written()).usage).toEqual([...before.usage, 'small']);
  });
});

describe('GET, DELETE and PUT on /mcp with a valid token', () => {
  /** The status of a request whose answer may be a stream that never ends: read the head, then hang up. */
  async function statusOf(method: string, headers: Record<string, string> = {}): Promise<number> {
    const hangUp = new AbortController();
    try {
      const response = await fetch(mcpUrl(server.url), {
        method,
        headers: { authorization: `Bearer ${secret}`, accept: 'application/json, text/event-stream', ...headers },
        signal: hangUp.signal,
      });
      return response.status;
    } finally {
      hangUp.abort();
    }
  }

  it('are never a server error', async () => {
    for (const method of ['GET', 'DELETE', 'PUT', 'PATCH']) {
      const status = await statusOf(method);
      expect(status, method).toBeGreaterThanOrEqual(200);
      expect(status, method).toBeLessThan(500);
    }
    // A GET that cannot take an event stream gets no 200 either way.
    const plainGet = await statusOf('GET', { accept: 'application/json' });
    expect(plainGet).toBeGreaterThanOrEqual(400);
    expect(plainGet).toBeLessThan(500);
    expect(await statusOf('PUT')).toBe(405);
  });

  // A stateless server has no stream to offer on GET, nor a session to end on DELETE.
  it('GET is refused with 405: a stateless server has no stream to offer', async () => {
    expect(await statusOf('GET')).toBe(405);
  });

  it('DELETE is refused with 405: there is no session to end', async () => {
    expect(await statusOf('DELETE')).toBe(405);
  });
});

describe('a JSON-RPC batch', () => {
  it('with a tools/call in it is no server error: each request is answered by its id, the call runs once', async () => {
    const before = await written();
    const batch = await post(
      JSON.stringify([
        toolCall('record_usage', { job_id: jobId, id: 'batched', input_tokens: 3, output_tokens: 2, cost_usd: 0 }, 1),
        rpc('tools/list', {}, 2),
      ]),
    );
    expect(batch.status, batch.text).toBeLessThan(500);
    expect(batch.status, batch.text).toBe(200);
    const byId = new Map((batch.json as { id: number }[]).map((message) => [message.id, message]));
    expect([...byId.keys()].sort()).toEqual([1, 2]);
    expect(byId.get(1)).toMatchObject({ result: { structuredContent: { recorded: true } } });
    expect(byId.get(2)).toMatchObject({ result: { tools: expect.arrayContaining([expect.objectContaining({ name: 'wait_for_job' })]) } });
    expect((await written()).usage).toEqual([...before.usage, 'batched'].sort());

    // A NUL anywhere in a batch refuses all of it, naming the request it is in.
    const poisoned = await post(
      JSON.stringify([
        toolCall('record_usage', { job_id: jobId, id: 'batched-2', input_tokens: 3, output_tokens: 2, cost_usd: 0 }, 3),
        toolCall('report_progress', { job_id: jobId, message: 'x\u0000' }, 4),
      ]),
    );
    expect(poisoned.status).toBe(400);
    expect(poisoned.json.error.message).toContain('[1].params.arguments.message');
    expect((await written()).usage).not.toContain('batched-2');

    const empty = await post('[]');
    expect(empty.status, empty.text).toBeLessThan(500);
  });
});

describe('after all of it', () => {
  it('the API process still answers /healthz and an SDK session lists its tools', async () => {
    expect(isAlive(server.process.pid)).toBe(true);
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const session = await connectMcp(mcpUrl(server.url), secret);
    sessions.push(session);
    expect(await session.toolNames()).toEqual(expect.arrayContaining(['job_heartbeat', 'update_job_status', 'wait_for_job']));
    expect(await session.ok('job_heartbeat', { job_id: jobId })).toMatchObject({ cancelled: false });
  });
});
