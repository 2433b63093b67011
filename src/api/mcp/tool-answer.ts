/**
 * How a tool answers: JSON in the text content (what every MCP client shows the model) and the
 * same object as structured content (what programs read). A refusal is an AppError as a tool
 * error: `isError`, the text `<code>: <message>`, and `{ error: { code, status, message } }` with
 * the HTTP status the same refusal has on the REST API (403 another token's job, 409 a stale
 * claim, ...). Anything else that goes wrong is logged and answered as `internal` (500) or, when
 * Postgres is away, `service_unavailable` (503): a tool never takes the server down.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { isPostgresUnavailable } from '../../db/postgres-unavailable.js';
import { AppError, coerceError, isAppError } from '../../errors/app-error.js';
import type { Logger } from '../../logger.js';

export type ToolValue = Record<string, unknown>;

export function answer(value: ToolValue): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value };
}

export function refusal(error: AppError): CallToolResult {
  const body = {
    error: {
      code: error.code,
      status: error.status,
      message: error.message,
      ...(Object.keys(error.details).length > 0 && { details: error.details }),
    },
  };
  return { isError: true, content: [{ type: 'text', text: `${error.code}: ${error.message}` }], structuredContent: body };
}

/** Runs a tool's work and turns what it returns or throws into its answer. */
export async function answerWith(logger: Logger, tool: string, work: () => Promise<ToolValue>): Promise<CallToolResult> {
  try {
    return answer(await work());
  } catch (thrown) {
    if (isAppError(thrown)) return refusal(thrown);
    if (isPostgresUnavailable(thrown)) return refusal(new AppError('service_unavailable', 'Postgres cannot be reached; try again shortly'));
    logger.error({ err: coerceError(thrown).message, tool }, 'an MCP tool failed');
    return refusal(new AppError('internal', `${tool} failed unexpectedly; the fleet's log has the cause`));
  }
}
