/**
 * The fleet's MCP server as an agent sees it, through the SDK's own client (never hand-made
 * JSON-RPC): connect with a bearer token, list tools, call them, and read a refusal the same way
 * whichever of its three forms it takes: an HTTP error before any tool runs (401, 403), a tool
 * result with `isError` (the fleet's own refusals, and the SDK's for unknown tools and bad
 * arguments), or a JSON-RPC error.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError, type Tool } from '@modelcontextprotocol/sdk/types.js';

export interface ToolAnswer {
  isError: boolean;
  /** structuredContent, else the text content parsed as JSON, else null. */
  data: any;
  /** The text content, joined. */
  text: string;
}

/** A refusal, whatever its form. `status` is the HTTP status it names, when it names one. */
export interface Refusal {
  status: number | null;
  code: string;
  message: string;
}

export interface McpSession {
  /** Every tool the token sees, with its schemas. */
  listTools(): Promise<Tool[]>;
  /** Their names, sorted. */
  toolNames(): Promise<string[]>;
  call(name: string, args?: Record<string, unknown>, options?: { timeoutMs?: number }): Promise<ToolAnswer>;
  /** A call that must succeed: its data (a refusal fails the test with its text). */
  ok(name: string, args?: Record<string, unknown>, options?: { timeoutMs?: number }): Promise<any>;
  /** A call that must be refused, in any form: the refusal (a success fails the test). */
  refused(name: string, args?: Record<string, unknown>): Promise<Refusal>;
  close(): Promise<void>;
}

/** The MCP endpoint of an API whose base URL (`http://host:port`) is given. */
export const mcpUrl = (apiUrl: string) => `${apiUrl}/mcp`;

/** Connects to `url` (the /mcp endpoint) with `Authorization: Bearer <token>`, or no header for null. */
export async function connectMcp(url: string, token: string | null): Promise<McpSession> {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: token === null ? {} : { Authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: 'jobfleet-tests', version: '1.0.0' });
  await client.connect(transport);

  const call: McpSession['call'] = async (name, args = {}, options = {}) => {
    const result = await client.callTool(
      { name, arguments: args },
      undefined,
      options.timeoutMs === undefined ? undefined : { timeout: options.timeoutMs },
    );
    return toAnswer(result as { isError?: boolean; structuredContent?: unknown; content?: unknown });
  };
  const listTools = async () => (await client.listTools()).tools;
  return {
    listTools,
    toolNames: async () => (await listTools()).map((tool) => tool.name).sort(),
    call,
    async ok(name, args, options) {
      const answer = await call(name, args, options);
      if (answer.isError) throw new Error(`${name} was refused: ${answer.text}`);
      return answer.data;
    },
    async refused(name, args) {
      return refusalOf(() => call(name, args));
    },
    close: () => client.close(),
  };
}

function toAnswer(result: { isError?: boolean; structuredContent?: unknown; content?: unknown }): ToolAnswer {
  const content = Array.isArray(result.content) ? (result.content as { type: string; text?: string }[]) : [];
  const text = content
    .filter((part) => part.type === 'text')
    .map((part) => part.text ?? '')
    .join('\n');
  let data: unknown = result.structuredContent ?? null;
  if (data === null) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  return { isError: result.isError === true, data, text };
}

/**
 * Runs `action` (a connect, a call, or both) and returns how it was refused; fails when it was not.
 * An action that resolves to a ToolAnswer without `isError` counts as not refused.
 */
export async function refusalOf(action: () => Promise<unknown>): Promise<Refusal> {
  let outcome: unknown;
  try {
    outcome = await action();
  } catch (error) {
    return refusalFromError(error);
  }
  const answer = outcome as Partial<ToolAnswer> | undefined;
  if (answer && answer.isError === true) return refusalFromResult(answer as ToolAnswer);
  throw new Error(`expected a refusal, got ${JSON.stringify(outcome)}`);
}

/** `{ error: { code, status, message } }` as the contract has it; else `<code>: <message>` text. */
function refusalFromResult(answer: ToolAnswer): Refusal {
  const error = answer.data?.error;
  if (error && typeof error === 'object') {
    return {
      status: typeof error.status === 'number' ? error.status : null,
      code: String(error.code ?? ''),
      message: String(error.message ?? ''),
    };
  }
  const match = /^([a-z_]+): ([\s\S]*)$/.exec(answer.text);
  return match ? { status: null, code: match[1]!, message: match[2]! } : { status: null, code: '', message: answer.text };
}

/** The HTTP error the transport throws (its body, the API's JSON error, is inside its message), or a JSON-RPC error. */
function refusalFromError(error: unknown): Refusal {
  if (error instanceof StreamableHTTPError) {
    const body = /\{[\s\S]*\}$/.exec(error.message)?.[0];
    let parsed: any = null;
    try {
      parsed = body ? JSON.parse(body) : null;
    } catch {
      parsed = null;
    }
    return {
      status: error.code ?? null,
      code: String(parsed?.error?.code ?? ''),
      message: String(parsed?.error?.message ?? error.message),
    };
  }
  if (error instanceof McpError) return { status: null, code: `mcp_error_${error.code}`, message: error.message };
  throw error;
}
