/**
 * /api/v1/ws: the same event stream as /api/v1/events over a WebSocket. Messages are JSON:
 * `connected` once the stream is live, then one message per event (its `type` is started,
 * step_started, step_completed, completed, failed or transition), and `pong` for every `ping`
 * the client sends. Authentication as for the API (Authorization header), or `?access_token=`
 * for clients that cannot set headers; filters and `last_event_id` as query parameters.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { hasScope, ownerScope, type Principal } from '../auth/principal.js';
import { isEventId, openEventStream } from '../events/event-stream.js';
import type { ApiDeps } from './api-deps.js';
import { CHALLENGE } from './auth.middleware.js';

export const SOCKET_PATH = '/api/v1/ws';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface EventSocket {
  close(): Promise<void>;
}

function refuse(socket: Duplex, status: number, message: string, headers: Record<string, string> = {}) {
  const body = JSON.stringify({ error: { code: status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : 'validation_failed', message, details: {} } });
  const head = [`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : 'Unprocessable Entity'}`, 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close'];
  for (const [name, value] of Object.entries(headers)) head.push(`${name}: ${value}`);
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}

export function attachEventSocket(server: Server, deps: ApiDeps): EventSocket {
  const wss = new WebSocketServer({ noServer: true });

  const onUpgrade = async (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname !== SOCKET_PATH) return void socket.destroy();
    socket.on('error', () => {});
    let principal: Principal | null;
    try {
      const token = url.searchParams.get('access_token');
      principal = token ? await deps.auth.authenticate(token) : await deps.auth.fromHeader(request.headers.authorization);
    } catch {
      return refuse(socket, 503, 'authentication is unavailable');
    }
    if (!principal) return refuse(socket, 401, 'send a bearer token (Authorization header or ?access_token=)', { 'WWW-Authenticate': CHALLENGE });
    if (!hasScope(principal, ['read', 'worker'])) return refuse(socket, 403, 'the event stream needs the read or worker scope');
    const filter = Object.fromEntries(
      ['job_id', 'idea_id', 'sprint_run_id', 'product_id'].map((name) => [name, url.searchParams.get(name) ?? undefined]),
    );
    const bad = Object.entries(filter).find(([, value]) => value !== undefined && !UUID.test(value));
    const lastEventId = url.searchParams.get('last_event_id');
    if (bad || (lastEventId !== null && !isEventId(lastEventId))) return refuse(socket, 422, bad ? `${bad[0]} must be a UUID` : 'last_event_id must be an event id');
    wss.handleUpgrade(request, socket, head, (ws) => void serve(ws, principal, filter, lastEventId));
  };

  const serve = async (ws: WebSocket, principal: Principal, filter: Record<string, string | undefined>, lastEventId: string | null) => {
    const sendJson = (message: object) =>
      new Promise<void>((resolve) => {
        if (ws.readyState !== ws.OPEN) return resolve();
        ws.send(JSON.stringify(message), () => resolve());
      });
    ws.on('message', (data) => {
      let message: { type?: unknown } | null = null;
      try {
        message = JSON.parse(String(data)) as { type?: unknown };
      } catch {
        // not JSON: ignored
      }
      if (message?.type === 'ping') void sendJson({ type: 'pong' });
    });
    const stop = await openEventStream({ db: deps.db, hub: deps.events, filter, ownerId: ownerScope(principal), lastEventId, send: (event) => sendJson(event) });
    ws.on('close', stop);
    void deps.events.closed.then(() => ws.close(1001, 'server shutting down'));
    await sendJson({ type: 'connected', filter });
  };

  const listener = (request: IncomingMessage, socket: Duplex, head: Buffer) => void onUpgrade(request, socket, head);
  server.on('upgrade', listener);
  return {
    async close() {
      server.off('upgrade', listener);
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
