/** What every tool of one MCP request works with. */
import type { Principal } from '../../auth/principal.js';
import type { ClaudeJob } from '../../db/tables/claude-job.table.js';
import type { ApiDeps } from '../api-deps.js';

export interface McpContext {
  deps: ApiDeps;
  principal: Principal;
  /** For a job token: its job as it was when the request came in (it decides which tools exist). */
  tokenJob: ClaudeJob | null;
  /** Aborted when the HTTP request ends: a tool that waits stops waiting. */
  signal: AbortSignal;
}
