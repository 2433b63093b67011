/**
 * The fleet's MCP server for one caller: the tools its scopes see (SPEC "Agents talk back").
 * - agent (a job token): the in-job tools, on its own job; the grill and plan writers only for a
 *   job of that kind;
 * - worker, admin: pull mode, and the in-job tools on a job it claimed (by job_id);
 * - read: get_job on its owner's jobs.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { hasScope } from '../../auth/principal.js';
import { VERSION } from '../../version.js';
import { jobContext, visibleJob } from './job-context.js';
import { registerJobTools } from './job-tools.js';
import type { McpContext } from './mcp-context.js';
import { registerPullTools } from './pull-tools.js';
import { answerWith } from './tool-answer.js';

export type ToolSet = 'job' | 'pull' | 'read';

/** Which tool sets a caller sees; none means the endpoint refuses it (403). */
export function toolSetsOf(context: Pick<McpContext, 'principal'>): ToolSet[] {
  const { principal } = context;
  if (principal.job) return ['job'];
  if (hasScope(principal, ['worker'])) return ['pull', 'job'];
  if (principal.scopes.includes('read')) return ['read'];
  return [];
}

export function createMcpServer(context: McpContext): McpServer {
  const server = new McpServer(
    { name: 'jobfleet', version: VERSION },
    {
      instructions: context.principal.job
        ? 'You are running a jobfleet job. Report progress, move your tasks, ask a person when you are stuck, and record the usage you spend.'
        : 'jobfleet: claim queued agent jobs with wait_for_job, keep them with job_heartbeat, finish them with update_job_status.',
    },
  );
  const sets = toolSetsOf(context);
  if (sets.includes('pull')) registerPullTools(server, context);
  if (sets.includes('job')) registerJobTools(server, context);
  if (sets.includes('read')) registerReadTools(server, context);
  return server;
}

function registerReadTools(server: McpServer, context: McpContext): void {
  const { db, logger } = context.deps;
  server.registerTool(
    'get_job',
    { description: 'A job of your owner: its status and result, its subject and its prompt.', inputSchema: { job_id: z.uuid() } },
    ({ job_id }) =>
      answerWith(logger, 'get_job', async () => {
        return jobContext(db, await visibleJob(db, context.principal, job_id));
      }),
  );
}
