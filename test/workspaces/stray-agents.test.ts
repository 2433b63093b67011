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

/** A detached shell (its own group) with a child, working in `cwd`, as a command agent runs. */
function agentIn(cwd: string): number {
  mkdirSync(cwd, { recursive: true });
  const child = spawn('/bin/sh', ['-c', 'sleep 300 & wait'], { cwd, detached: true, stdio: 'ignore' });
  child.unref();
  return child.pid!;
}

describe('stopStrayAgents', () => {
  it('stops the groups of processes working under the directory, and only those', async () => {
    const inside = agentIn(path.join(root, 'slot', 'jobs', 'job-1'));
    const elsewhere = agentIn(path.join(root, 'other'));
    try {
      const stopped = await stopStrayAgents(path.join(root, 'slot'));
      expect(stopped).toEqual([inside]);
      expect(groupHasLiveMembers(inside)).toBe(false);
      expect(groupHasLiveMembers(elsewhere)).toBe(true);
    } finally {
      for (const group of [inside, elsewhere]) {
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
