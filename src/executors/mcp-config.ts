/**
 * The MCP config file a command agent is given (JOBFLEET_MCP_CONFIG), in the shape agent CLIs
 * load: `claude -p --mcp-config "$JOBFLEET_MCP_CONFIG"`. It holds the job's token, so it lives in
 * a directory of its own readable by this user only, and goes when the agent's run ends.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AgentChannel } from './executor.js';

export interface McpConfigFile {
  path: string;
  remove(): Promise<void>;
}

/** The server's name in the config: tools appear to the agent as mcp__jobfleet__<tool>. */
export const MCP_SERVER_NAME = 'jobfleet';

export function mcpConfig(channel: AgentChannel) {
  return {
    mcpServers: {
      [MCP_SERVER_NAME]: { type: 'http', url: channel.url, headers: { Authorization: `Bearer ${channel.token}` } },
    },
  };
}

export async function writeMcpConfig(channel: AgentChannel): Promise<McpConfigFile> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'jobfleet-mcp-'));
  const file = path.join(dir, 'mcp.json');
  await writeFile(file, `${JSON.stringify(mcpConfig(channel), null, 2)}\n`, { mode: 0o600 });
  return { path: file, remove: () => rm(dir, { recursive: true, force: true }) };
}
