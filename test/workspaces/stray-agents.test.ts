/**
 * A killed worker's agents keep running in their own process groups; before a dead worker's
 * workspaces are salvaged they are stopped (src/workspaces/stray-agents.ts). Real processes.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stopStrayAgents } from '../../src/workspaces/stray-agents.js';
import { groupHasLiveMembers } from '../../src/util/process-group.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'jobfleet-stray-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * A detached shell (its own group) with a child, as the command executor runs an agent: with
 * JOBFLEET_WORKSPACE when it is one, standing in `cwd`.
 */
function processIn(cwd: string, asAgent: boolean): number {
  mkdirSync(cwd, { recursive: true });
  const env = { PATH: process.env.PATH ?? '', ...(asAgent && { JOBFLEET_WORKSPACE: cwd }) };
  const child = spawn('/bin/sh', ['-c', 'sleep 300 & wait'], { cwd, env, detached: true, stdio: 'ignore' });
  child.unref();
  return child.pid!;
}

describe('stopStrayAgents', () => {
  it('stops the groups of the agents whose workspace is under the directory, and only those', async () => {
    const agent = processIn(path.join(root, 'slot', 'jobs', 'job-1'), true);
    const otherSlotsAgent = processIn(path.join(root, 'other', 'jobs', 'job-2'), true);
    // An operator's shell standing in the dead worker's workspace is not its agent.
    const shell = processIn(path.join(root, 'slot', 'jobs', 'job-1'), false);
    try {
      const stopped = await stopStrayAgents(path.join(root, 'slot'));
      expect(stopped).toEqual([agent]);
      expect(groupHasLiveMembers(agent)).toBe(false);
      expect(groupHasLiveMembers(otherSlotsAgent)).toBe(true);
      expect(groupHasLiveMembers(shell)).toBe(true);
    } finally {
      for (const group of [agent, otherSlotsAgent, shell]) {
        try {
          process.kill(-group, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
  });

  it('finds nothing in a directory that does not exist', async () => {
    expect(await stopStrayAgents(path.join(root, 'missing'))).toEqual([]);
  });
});
