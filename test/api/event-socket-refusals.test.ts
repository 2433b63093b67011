/**
 * Every refused WebSocket handshake answers with the API's error body, as every HTTP route does:
 * the refusals of jobfleet's own checks, those of the WebSocket library (a malformed handshake),
 * and an upgrade asked for where there is no socket.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { attachEventSocket, type EventSocket } from '../../src/api/event-socket.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let api: ApiHarness;
let server: Server;
let socket: EventSocket;
let origin: string;

beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  server = createServer((_request, response) => response.end());
  socket = attachEventSocket(server, api.deps);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await socket.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await api.close();
  await env.teardown();
});

const HANDSHAKE = {
  connection: 'Upgrade',
  upgrade: 'websocket',
  'sec-websocket-version': '13',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
};

/** A raw upgrade request; a refusal comes back as an ordinary response. */
function upgrade(path: string, headers: Record<string, string>, method = 'GET') {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: any }>((resolve, reject) => {
    const req = request(`${origin}${path}`, { method, headers }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: parsed(body) }));
    });
    req.on('upgrade', () => reject(new Error('the handshake was accepted')));
    req.on('error', reject);
    req.end();
  });
}

function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function expectErrorBody(reply: { headers: Record<string, unknown>; body: any }, code: string) {
  expect(reply.headers['content-type']).toBe('application/json');
  expect(reply.body.error).toMatchObject({ code, message: expect.any(String), details: expect.any(Object), requestId: expect.any(String) });
}

describe('refused WebSocket handshakes', () => {
  it('answer a handshake without a valid Sec-WebSocket-Key with 400 in the error shape', async () => {
    const reader = await api.token(['read']);
    const reply = await upgrade('/api/v1/ws', { ...HANDSHAKE, authorization: `Bearer ${reader}`, 'sec-websocket-key': 'short' });
    expect(reply.status).toBe(400);
    expectErrorBody(reply, 'bad_request');
    expect(reply.body.error.message).toContain('Sec-WebSocket-Key');
  });

  it('answer a WebSocket version the server does not speak with 400 in the error shape, naming the versions it speaks', async () => {
    const reader = await api.token(['read']);
    const reply = await upgrade('/api/v1/ws', { ...HANDSHAKE, authorization: `Bearer ${reader}`, 'sec-websocket-version': '7' });
    expect(reply.status).toBe(400);
    expectErrorBody(reply, 'bad_request');
    expect(reply.headers['sec-websocket-version']).toBe('13, 8');
  });

  it('answer a handshake with another method than GET with 404 in the error shape, as the API answers a route it does not have', async () => {
    const reader = await api.token(['read']);
    const reply = await upgrade('/api/v1/ws', { ...HANDSHAKE, authorization: `Bearer ${reader}` }, 'POST');
    expect(reply.status).toBe(404);
    expectErrorBody(reply, 'not_found');
  });

  it('answer an upgrade asked for where there is no socket with 404 in the error shape', async () => {
    const reply = await upgrade('/api/v1/products', HANDSHAKE);
    expect(reply.status).toBe(404);
    expectErrorBody(reply, 'not_found');
    expect(reply.body.error.message).toContain('/api/v1/ws');
  });

  it('answer a handshake without credentials with 401 in the error shape and the challenge', async () => {
    const reply = await upgrade('/api/v1/ws', HANDSHAKE);
    expect(reply.status).toBe(401);
    expectErrorBody(reply, 'unauthorized');
    expect(reply.headers['www-authenticate']).toContain('Bearer');
  });
});

describe('a WebSocket stream whose replay cannot be read', () => {
  it('is closed with 1013 (try again later), and the API process lives on', async () => {
    // Postgres away for the replay only: the token is still checked against the real database.
    const away = new Proxy(
      {},
      {
        get() {
          throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
        },
      },
    ) as typeof api.deps.db;
    const own = createServer((_request, response) => response.end());
    const ownSocket = attachEventSocket(own, { ...api.deps, db: away });
    await new Promise<void>((resolve) => own.listen(0, '127.0.0.1', resolve));
    const port = (own.address() as AddressInfo).port;
    try {
      const client = new WebSocket(`ws://127.0.0.1:${port}/api/v1/ws?last_event_id=1`, {
        headers: { authorization: `Bearer ${api.adminSecret}` },
      });
      const [code, reason] = await new Promise<[number, string]>((resolve, reject) => {
        client.on('close', (closeCode, closeReason) => resolve([closeCode, closeReason.toString()]));
        client.on('error', reject);
      });
      expect(code).toBe(1013);
      expect(reason).toContain('reconnect');
    } finally {
      await ownSocket.close();
      await new Promise<void>((resolve) => own.close(() => resolve()));
    }
  });
});
