/**
 * Clients of the event stream for tests: an SSE client over fetch (it parses `id`, `event`,
 * `data`) and a WebSocket client, both collecting what they receive.
 */
import WebSocket from 'ws';
import { waitFor } from './wait-for.js';

export interface ReceivedEvent {
  id?: string;
  type: string;
  data: any;
}

export interface EventClient {
  events: ReceivedEvent[];
  /** Resolves once the stream says it is connected. */
  connected: Promise<void>;
  waitFor(what: string, check: (events: ReceivedEvent[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): void;
}

function collector(events: ReceivedEvent[]) {
  return (what: string, check: (events: ReceivedEvent[]) => boolean, timeoutMs = 30_000) =>
    waitFor(what, () => check(events) || undefined, { timeoutMs }).then(() => undefined);
}

/** An SSE client; `ended` resolves when the server ends the stream (or it fails), not on close(). */
export function sseClient(url: string, headers: Record<string, string>): EventClient & { status: Promise<number>; ended: Promise<void> } {
  const events: ReceivedEvent[] = [];
  const controller = new AbortController();
  let markEnded!: () => void;
  const ended = new Promise<void>((resolve) => (markEnded = resolve));
  let markConnected!: () => void;
  const connected = new Promise<void>((resolve) => (markConnected = resolve));
  let resolveStatus!: (status: number) => void;
  const status = new Promise<number>((resolve) => (resolveStatus = resolve));

  void (async () => {
    try {
      const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
      resolveStatus(response.status);
      if (!response.ok || !response.body) return markEnded();
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields: Record<string, string> = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            if (colon > 0) fields[line.slice(0, colon)] = (fields[line.slice(0, colon)] ?? '') + line.slice(colon + 1).replace(/^ /, '');
          }
          if (!fields.data) continue;
          const event: ReceivedEvent = {
            type: fields.event ?? 'message',
            data: JSON.parse(fields.data),
            ...(fields.id ? { id: fields.id } : {}),
          };
          if (event.type === 'connected') markConnected();
          else events.push(event);
        }
      }
      markEnded();
    } catch {
      // aborted by close()
      if (!controller.signal.aborted) markEnded();
    }
  })();

  return { events, connected, status, ended, waitFor: collector(events), close: () => controller.abort() };
}

export interface WsClient extends EventClient {
  socket: WebSocket;
  /** The status of a refused handshake. */
  failure: Promise<number>;
  /** The close code and reason once the connection closes. */
  closed: Promise<{ code: number; reason: string }>;
}

export function wsClient(url: string, headers: Record<string, string>): WsClient {
  const events: ReceivedEvent[] = [];
  const socket = new WebSocket(url, { headers });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  let markConnected!: () => void;
  const connected = new Promise<void>((resolve) => (markConnected = resolve));
  const failure = new Promise<number>((resolve) =>
    socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0)),
  );
  socket.on('error', () => {});
  socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as { type: string; id?: string };
    if (message.type === 'connected') markConnected();
    else events.push({ type: message.type, data: message, ...(message.id ? { id: message.id } : {}) });
  });
  return { events, connected, socket, failure, closed, waitFor: collector(events), close: () => socket.terminate() };
}
