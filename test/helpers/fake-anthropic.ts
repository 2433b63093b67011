/**
 * A local HTTP server that speaks enough of the Anthropic Messages API wire format for the real
 * SDK to talk to it: `POST /v1/messages` answers with a message object or an error in the API's
 * `{ type: 'error', error: { type, message } }` shape. Tests script the answers in order and
 * read back the requests the server received.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedMessage {
  kind: 'message';
  text: string;
  inputTokens?: number;
  outputTokens?: number;
  stopReason?: 'end_turn' | 'max_tokens' | 'stop_sequence';
  /** Hold the answer this long (the connection stays open), to test aborts. */
  delayMs?: number;
}

export interface ScriptedError {
  kind: 'error';
  status: number;
  /** Anthropic's error type, e.g. `rate_limit_error`, `api_error`, `overloaded_error`. */
  type: string;
  message?: string;
  /**
   * Sent as `retry-after-ms`, a header the SDK prefers over `retry-after`; it keeps the SDK's
   * backoff (0.5 s doubling otherwise) short in tests.
   */
  retryAfterMs?: number;
  delayMs?: number;
}

export type ScriptedResponse = ScriptedMessage | ScriptedError;

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /**
   * The API key the client presented: `x-api-key` (the classic header) or the token of
   * `Authorization: Bearer`, which is how SDK 1.x (API version 2026-10-21) sends `apiKey`.
   */
  apiKey: string | null;
  /** The parsed JSON body. */
  body: { model?: string; max_tokens?: number; system?: unknown; messages?: unknown; [key: string]: unknown };
}

export interface FakeAnthropic {
  /** Pass as the SDK's `baseURL`. */
  baseURL: string;
  /** Every request received, in arrival order. */
  readonly requests: ReceivedRequest[];
  /** Queues answers; each request takes the next one, and when none is left, `whenEmpty`. */
  respondWith(...responses: ScriptedResponse[]): void;
  close(): Promise<void>;
}

export const textMessage = (text: string, extra: Omit<ScriptedMessage, 'kind' | 'text'> = {}): ScriptedMessage => ({
  kind: 'message',
  text,
  ...extra,
});

export const apiError = (status: number, type: string, extra: Omit<ScriptedError, 'kind' | 'status' | 'type'> = {}): ScriptedError => ({
  kind: 'error',
  status,
  type,
  retryAfterMs: 10,
  ...extra,
});

export async function startFakeAnthropic(options: { whenEmpty?: ScriptedResponse } = {}): Promise<FakeAnthropic> {
  const whenEmpty = options.whenEmpty ?? textMessage('ok');
  const queue: ScriptedResponse[] = [];
  const requests: ReceivedRequest[] = [];
  const pendingTimers = new Set<NodeJS.Timeout>();
  let messageCount = 0;

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      let body: ReceivedRequest['body'] = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ReceivedRequest['body'];
      } catch {
        // Recorded as an empty body; the route below answers 400.
      }
      const apiKey = presentedApiKey(req.headers);
      requests.push({ method: req.method ?? '', path, headers: req.headers, apiKey, body });

      if (req.method !== 'POST' || path !== '/v1/messages') {
        return sendError(res, { kind: 'error', status: 404, type: 'not_found_error', message: `no route ${req.method} ${path}` });
      }
      if (!apiKey) {
        return sendError(res, {
          kind: 'error',
          status: 401,
          type: 'authentication_error',
          message: 'an x-api-key or Authorization: Bearer header is required',
        });
      }
      if (typeof body.model !== 'string' || typeof body.max_tokens !== 'number') {
        return sendError(res, { kind: 'error', status: 400, type: 'invalid_request_error', message: 'model and max_tokens are required' });
      }

      const scripted = queue.shift() ?? whenEmpty;
      const answer = () => {
        if (scripted.kind === 'error') return sendError(res, scripted);
        messageCount += 1;
        sendMessage(res, body.model as string, scripted, messageCount);
      };
      if (!scripted.delayMs) return answer();
      const timer = setTimeout(() => {
        pendingTimers.delete(timer);
        if (!res.destroyed) answer();
      }, scripted.delayMs);
      pendingTimers.add(timer);
      // A client that gives up (abort) closes the socket: drop the held answer with it.
      res.on('close', () => {
        clearTimeout(timer);
        pendingTimers.delete(timer);
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseURL: `http://127.0.0.1:${port}`,
    requests,
    respondWith: (...responses) => void queue.push(...responses),
    close: async () => {
      for (const timer of pendingTimers) clearTimeout(timer);
      pendingTimers.clear();
      // Keep-alive sockets from the SDK's fetch would otherwise hold close() open.
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

function presentedApiKey(headers: IncomingHttpHeaders): string | null {
  const header = headers['x-api-key'];
  if (typeof header === 'string' && header) return header;
  const bearer = /^Bearer (.+)$/i.exec(headers.authorization ?? '');
  return bearer?.[1] ?? null;
}

function sendMessage(res: ServerResponse, model: string, scripted: ScriptedMessage, sequence: number) {
  sendJson(res, 200, {
    id: `msg_fake_${sequence}`,
    type: 'message',
    role: 'assistant',
    content: [{ type: 'text', text: scripted.text }],
    model,
    stop_reason: scripted.stopReason ?? 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: scripted.inputTokens ?? 10, output_tokens: scripted.outputTokens ?? 20 },
  });
}

function sendError(res: ServerResponse, scripted: ScriptedError) {
  const headers: Record<string, string> = {};
  // The real API sends `retry-after` (whole seconds) with a 429.
  if (scripted.status === 429) headers['retry-after'] = String(Math.max(1, Math.ceil((scripted.retryAfterMs ?? 1000) / 1000)));
  if (scripted.retryAfterMs !== undefined) headers['retry-after-ms'] = String(scripted.retryAfterMs);
  sendJson(
    res,
    scripted.status,
    { type: 'error', error: { type: scripted.type, message: scripted.message ?? `fake ${scripted.type}` } },
    headers,
  );
}

function sendJson(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}) {
  const body = JSON.stringify(payload);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'request-id': `req_fake_${Date.now().toString(36)}`,
    ...headers,
  });
  res.end(body);
}
