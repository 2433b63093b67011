/**
 * A local HTTP server that speaks enough of the Anthropic Messages API wire format for the real
 * SDK to talk to it: `POST /v1/messages` answers with a message object, or with its server-sent
 * events when the request says `stream: true`, or an error in the API's
 * `{ type: 'error', error: { type, message } }` shape. Tests script the answers in order, open
 * rate-limit windows, and read back the requests the server received (when, and whether the
 * client hung up before the answer ended).
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedMessage {
  kind: 'message';
  text: string;
  inputTokens?: number;
  /** The final output tokens (the last `message_delta` of a stream). */
  outputTokens?: number;
  stopReason?: 'end_turn' | 'max_tokens' | 'stop_sequence';
  /** Hold the answer this long (the connection stays open), to test aborts. */
  delayMs?: number;
  /** Streamed: the text is sent in this many `content_block_delta` events. @defaultValue 1 */
  chunks?: number;
  /** Streamed: the pause before each text chunk. @defaultValue 0 */
  chunkDelayMs?: number;
  /**
   * Streamed: cumulative output tokens sent as `message_delta` usage, spread evenly over the text
   * chunks (the last one ends the stream), so a ceiling can be crossed mid-answer.
   */
  outputTokensSteps?: number[];
  /** Streamed: an `error` event instead of the rest of the stream after this many text chunks. */
  streamError?: { afterChunks: number; type: string; message?: string };
  /** Streamed: the connection is dropped after this many text chunks (a network failure). */
  dropAfterChunks?: number;
}

export interface ScriptedError {
  kind: 'error';
  status: number;
  /** Anthropic's error type, e.g. `rate_limit_error`, `api_error`, `overloaded_error`. */
  type: string;
  message?: string;
  /** Sent as `retry-after-ms`, a header the SDK prefers over `retry-after`. */
  retryAfterMs?: number;
  /** Sent as `retry-after` (whole seconds, as the real API does); a 429 sends 1 unless told. */
  retryAfterSeconds?: number;
  /** An `anthropic-ratelimit-<limit>-*` set saying that limit is exhausted until `resetAt`. */
  rateLimit?: { limit: 'requests' | 'tokens' | 'input-tokens' | 'output-tokens'; resetAt: number };
  /** `error.details.error_code`, e.g. `enforced_spend_limit_reached`. */
  errorCode?: string;
  /** Any other response headers. */
  headers?: Record<string, string>;
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
  body: { model?: string; max_tokens?: number; system?: unknown; messages?: unknown; stream?: unknown; [key: string]: unknown };
  /** When it arrived (ms since the epoch). */
  at: number;
  /** The client closed the connection before the answer ended (an abort, a stopped stream). */
  cancelled: boolean;
}

export interface FakeAnthropic {
  /** Pass as the SDK's `baseURL`. */
  baseURL: string;
  /** Every request received, in arrival order. */
  readonly requests: ReceivedRequest[];
  /** Queues answers; each request takes the next one, and when none is left, `whenEmpty`. */
  respondWith(...responses: ScriptedResponse[]): void;
  /**
   * Until this time (ms since the epoch) every request is answered 429 `rate_limit_error` with
   * `retry-after` (whole seconds, rounded up) and `retry-after-ms` saying the time left; scripted
   * answers wait for the requests after it.
   */
  rateLimitWindow(untilEpochMs: number): void;
  /** How many requests the client gave up before their answer ended. */
  cancelled(): number;
  close(): Promise<void>;
}

export const textMessage = (text: string, extra: Omit<ScriptedMessage, 'kind' | 'text'> = {}): ScriptedMessage => ({
  kind: 'message',
  text,
  ...extra,
});

/** A message streamed in `chunks` pieces (also answers a request without `stream: true`, whole). */
export const streamedMessage = (text: string, extra: Omit<ScriptedMessage, 'kind' | 'text'> = {}): ScriptedMessage => ({
  kind: 'message',
  text,
  ...extra,
});

export const apiError = (status: number, type: string, extra: Omit<ScriptedError, 'kind' | 'status' | 'type'> = {}): ScriptedError => ({
  kind: 'error',
  status,
  type,
  ...extra,
});

/**
 * The organisation's spend limit, as Anthropic answers it: by default the tier's monthly cap (429
 * `rate_limit_error` with `error_code` enforced_spend_limit_reached and no `retry-after`);
 * `{ status: 400 }` gives the limit an organisation set itself (its wording, no code).
 */
export const spendLimitError = (options: { status?: 400 | 429 } = {}): ScriptedError =>
  options.status === 400
    ? {
        kind: 'error',
        status: 400,
        type: 'invalid_request_error',
        message: 'You have reached your specified API usage limits. You will regain access on 2026-12-01 at 00:00 UTC.',
      }
    : {
        kind: 'error',
        status: 429,
        type: 'rate_limit_error',
        errorCode: 'enforced_spend_limit_reached',
        message: "Your organization has reached its usage tier's monthly spend limit.",
      };

export async function startFakeAnthropic(options: { whenEmpty?: ScriptedResponse } = {}): Promise<FakeAnthropic> {
  const whenEmpty = options.whenEmpty ?? textMessage('ok');
  const queue: ScriptedResponse[] = [];
  const requests: ReceivedRequest[] = [];
  const pendingTimers = new Set<NodeJS.Timeout>();
  let messageCount = 0;
  let rateLimitedUntil = 0;
  /** A timer that the server's close() clears, so no answer is written after it. */
  const later = (ms: number, run: () => void) => {
    const timer = setTimeout(() => {
      pendingTimers.delete(timer);
      run();
    }, ms);
    pendingTimers.add(timer);
    return timer;
  };

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
      const received: ReceivedRequest = {
        method: req.method ?? '',
        path,
        headers: req.headers,
        apiKey,
        body,
        at: Date.now(),
        cancelled: false,
      };
      requests.push(received);
      res.on('close', () => {
        if (!res.writableFinished) received.cancelled = true;
      });

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

      const left = rateLimitedUntil - received.at;
      if (left > 0) {
        return sendError(res, {
          kind: 'error',
          status: 429,
          type: 'rate_limit_error',
          message: 'Number of requests has exceeded your rate limit',
          retryAfterSeconds: Math.ceil(left / 1000),
          retryAfterMs: left,
        });
      }

      const scripted = queue.shift() ?? whenEmpty;
      const answer = () => {
        if (res.destroyed) return;
        if (scripted.kind === 'error') return sendError(res, scripted);
        messageCount += 1;
        if (body.stream === true) return streamMessage(res, body.model as string, scripted, messageCount, later);
        sendMessage(res, body.model as string, scripted, messageCount);
      };
      if (!scripted.delayMs) return answer();
      const timer = later(scripted.delayMs, answer);
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
    rateLimitWindow: (untilEpochMs) => {
      rateLimitedUntil = untilEpochMs;
    },
    cancelled: () => requests.filter((request) => request.cancelled).length,
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

/**
 * The stream the API sends: message_start, content_block_start, the text in chunks (with
 * `message_delta` usage steps between them when scripted), content_block_stop, the last
 * message_delta, message_stop. Stops writing when the client hangs up.
 */
function streamMessage(
  res: ServerResponse,
  model: string,
  scripted: ScriptedMessage,
  sequence: number,
  later: (ms: number, run: () => void) => NodeJS.Timeout,
) {
  const inputTokens = scripted.inputTokens ?? 10;
  const steps = scripted.outputTokensSteps ?? [];
  const finalOutput = steps.at(-1) ?? scripted.outputTokens ?? 20;
  const pieces = splitText(scripted.text, Math.max(1, scripted.chunks ?? 1));
  // Step i (all but the last) goes after the text chunk that ends its share of the answer.
  const stepAfter = new Map(steps.slice(0, -1).map((tokens, i) => [Math.ceil(((i + 1) * pieces.length) / steps.length) - 1, tokens]));

  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': `req_fake_${sequence}` });
  const event = (type: string, data: object) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  const delta = (stopReason: string | null, outputTokens: number) =>
    event('message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: outputTokens } });

  event('message_start', {
    message: {
      id: `msg_fake_${sequence}`,
      type: 'message',
      role: 'assistant',
      content: [],
      model,
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: inputTokens, output_tokens: 1 },
    },
  });
  event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });

  const send = (index: number) => {
    if (res.destroyed) return;
    if (scripted.streamError && index === scripted.streamError.afterChunks) {
      const { type, message } = scripted.streamError;
      res.end(`event: error\ndata: ${JSON.stringify({ type: 'error', error: { type, message: message ?? `fake ${type}` } })}\n\n`);
      return;
    }
    if (index === scripted.dropAfterChunks) {
      res.destroy();
      return;
    }
    if (index === pieces.length) {
      event('content_block_stop', { index: 0 });
      delta(scripted.stopReason ?? 'end_turn', finalOutput);
      event('message_stop', {});
      res.end();
      return;
    }
    event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: pieces[index] } });
    const step = stepAfter.get(index);
    if (step !== undefined) delta(null, step);
    next(index + 1);
  };
  const next = (index: number) => (scripted.chunkDelayMs ? later(scripted.chunkDelayMs, () => send(index)) : send(index));
  next(0);
}

function splitText(text: string, chunks: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / chunks));
  const pieces: string[] = [];
  for (let start = 0; start < text.length; start += size) pieces.push(text.slice(start, start + size));
  return pieces.length > 0 ? pieces : [''];
}

function sendError(res: ServerResponse, scripted: ScriptedError) {
  const headers: Record<string, string> = { ...scripted.headers };
  // The real API sends `retry-after` (whole seconds) with a rate limit's 429, not with a spend limit's.
  const untimed = !scripted.errorCode && !scripted.rateLimit && !('retry-after' in headers);
  const seconds = scripted.retryAfterSeconds ?? (scripted.status === 429 && untimed ? 1 : undefined);
  if (seconds !== undefined) headers['retry-after'] = String(seconds);
  if (scripted.retryAfterMs !== undefined) headers['retry-after-ms'] = String(scripted.retryAfterMs);
  if (scripted.rateLimit) {
    const name = `anthropic-ratelimit-${scripted.rateLimit.limit}`;
    headers[`${name}-limit`] = '50';
    headers[`${name}-remaining`] = '0';
    headers[`${name}-reset`] = new Date(scripted.rateLimit.resetAt).toISOString();
  }
  const error = {
    type: scripted.type,
    message: scripted.message ?? `fake ${scripted.type}`,
    ...(scripted.errorCode && { details: { error_code: scripted.errorCode } }),
  };
  sendJson(res, scripted.status, { type: 'error', error }, headers);
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
