/**
 * /api/v1/ws: the same event stream as /api/v1/events over a WebSocket. Messages are JSON:
 * `connected` once the stream is live, then one message per event (its `type` is started,
 * step_started, step_completed, completed, failed or transition; or, with `id` null as they are
 * not replayed, a job notice: progress, question_asked, question_answered, question_closed), and
 * `pong` for every `ping` the client sends. Before a replay from a `last_event_id` further behind
 * than a replay reads: `{type: 'replay_truncated', after, resumes_after}` (event-stream.ts).
 * Authentication as for the API (Authorization header), or `?access_token=`
 * for clients that cannot set headers; filters and `last_event_id` as query parameters. A handshake
 * from another site's page (its Origin is not this server) is refused with 403, and the socket is
 * closed with 1008 within the authenticator's cache window once its token is revoked. Every
 * refused handshake, also one the WebSocket library refuses (a missing key, an unknown version)
 * or an upgrade asked for elsewhere, is answered with the API's error body.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { hasScope, type Principal } from '../auth/principal.js';
import { isEventId, openEventStream } from '../events/event-stream.js';
import { audienceOf } from '../events/fleet-event.js';
import { AppError } from '../errors/app-error.js';
import type { ApiDeps } from './api-deps.js';
import { CHALLENGE } from './auth.middleware.js';
import { rawErrorResponse } from './http-errors.js';
import { crossSiteReason, upgradeOrigin } from './same-origin.js';
import { isUuidShape } from '../util/uuid.js';

export const SOCKET_PATH = '/api/v1/ws';
/** Close code of a stream whose token was revoked: 1008, policy violation (RFC 6455). */
export const REVOKED_CODE = 1008;
/** Close code of a stream that could not start (its replay could not be read): 1013, try again later. */
export const TRY_AGAIN_CODE = 1013;

export interface EventSocket {
  close(): Promise<void>;
}

function refuse(socket: Duplex, error: AppError, headers: Record<string, string> = {}) {
  socket.end(rawErrorResponse(error, headers));
}

/**
 * What the WebSocket library refused, in the API's terms: a method other than GET has no route
 * here (as anywhere in the API); anything else is a malformed handshake, and a version it does
 * not speak is answered with the versions it does (RFC 6455, section 4.4).
 */
function handshakeRefusal(request: IncomingMessage, reason: string): [AppError, Record<string, string>] {
  if (request.method !== 'GET') return [new AppError('not_found', `no route for ${request.method} ${SOCKET_PATH}`), {}];
  const error = new AppError('bad_request', `invalid WebSocket handshake: ${reason}`);
  const version = request.headers['sec-websocket-version'];
  return [error, version === '13' || version === '8' ? {} : { 'Sec-WebSocket-Version': '13, 8' }];
}

export function attachEventSocket(server: Server, deps: ApiDeps): EventSocket {
  const wss = new WebSocketServer({ noServer: true });
  // With a listener here, the library hands its handshake refusals over instead of answering them itself.
  wss.on('wsClientError', (error, socket, request) => refuse(socket, ...handshakeRefusal(request, error.message)));

  const onUpgrade = async (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    socket.on('error', () => {});
    if (url.pathname !== SOCKET_PATH) {
      return refuse(socket, new AppError('not_found', `no WebSocket at ${url.pathname}; the event stream is at ${SOCKET_PATH}`));
    }
    const crossSite = crossSiteReason(upgradeOrigin(request));
    if (crossSite) return refuse(socket, new AppError('forbidden', `cross-site WebSocket refused: ${crossSite}`));
    let principal: Principal | null;
    try {
      const token = url.searchParams.get('access_token');
      principal = token ? await deps.auth.authenticate(token) : await deps.auth.fromHeader(request.headers.authorization);
    } catch {
      return refuse(socket, new AppError('service_unavailable', 'authentication is unavailable'));
    }
    if (!principal) {
      const error = new AppError('unauthorized', 'send a bearer token (Authorization header or ?access_token=)');
      return refuse(socket, error, { 'WWW-Authenticate': CHALLENGE });
    }
    if (!hasScope(principal, ['read', 'worker'])) {
      return refuse(socket, new AppError('forbidden', 'the event stream needs the read or worker scope'));
    }
    const filter = Object.fromEntries(
      ['job_id', 'idea_id', 'sprint_run_id', 'product_id'].map((name) => [name, url.searchParams.get(name) ?? undefined]),
    );
    const bad = Object.entries(filter).find(([, value]) => value !== undefined && !isUuidShape(value));
    const lastEventId = url.searchParams.get('last_event_id');
    if (bad || (lastEventId !== null && !isEventId(lastEventId))) {
      const [path, message] = bad ? [bad[0], 'must be a UUID'] : ['last_event_id', 'must be an event id'];
      return refuse(socket, new AppError('validation_failed', `${path} ${message}`, { issues: [{ path, message }] }));
    }
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
    let revoked = false;
    const unwatch = deps.auth.watchRevocation(principal, () => {
      revoked = true;
      ws.close(REVOKED_CODE, 'the token was revoked');
    });
    let stop = () => {};
    let closed = false;
    ws.on('close', () => {
      closed = true;
      unwatch();
      stop();
    });
    try {
      stop = await openEventStream({
        db: deps.db,
        hub: deps.events,
        filter,
        audience: audienceOf(principal),
        lastEventId,
        // Nothing more leaves once the token is revoked, even what the hub had in flight.
        send: (event) => (revoked ? undefined : sendJson(event)),
        sendTruncated: (notice) => (revoked ? undefined : sendJson(notice)),
      });
    } catch (error) {
      // The replay could not be read (Postgres away). `serve` runs detached from any request: a
      // rejection here would be unhandled and end the process. The client is told to come back.
      deps.logger.error({ err: error }, 'a WebSocket event stream could not replay its history');
      unwatch();
      ws.close(TRY_AGAIN_CODE, 'the event history is unavailable; reconnect shortly');
      return;
    }
    if (closed) stop();
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
