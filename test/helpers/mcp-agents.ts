/** What the MCP agent fixtures (test/fixtures/agents/mcp-*.mjs) leave behind, and their jobs' ends. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import type { ApiHarness } from './api-harness.js';
import { waitFor } from './wait-for.js';

/** The job as GET /api/v1/jobs/{id} shows it, once it is done, failed or cancelled. */
export function finished(api: ApiHarness, id: string) {
  return waitFor(`job ${id} to end`, async () => {
    const { body } = await api.call('GET', `/api/v1/jobs/${id}`);
    return ['done', 'failed', 'cancelled'].includes(body.status) ? body : undefined;
  });
}

/** What the agent of a job noted about its calls (MCP_AGENT_DIR/<job>.seen). */
export function seenBy(agentDir: string, jobId: string): any {
  const file = path.join(agentDir, `${jobId}.seen`);
  expect(existsSync(file), `the agent of job ${jobId} left no notes`).toBe(true);
  const seen = JSON.parse(readFileSync(file, 'utf8'));
  expect(seen.fatal, 'the agent failed').toBeUndefined();
  return seen;
}
