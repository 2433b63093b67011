/** Options for openWorkspaces in tests: a fresh root, a fixed author, a logger that keeps its lines. */
import { pino } from 'pino';
import { openWorkspaces, type WorkspacesOptions } from '../../src/workspaces/index.js';
import { tempDir } from './git-repos.js';

export const AUTHOR = { name: 'Fleet Bot', email: 'fleet@example.test' };

export function workspaceOptions(overrides: Partial<WorkspacesOptions> = {}): WorkspacesOptions & { lines: string[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  return {
    root: tempDir('jobfleet-root-'),
    gitAuthor: AUTHOR,
    gitTimeoutMs: 30_000,
    cacheMaxAgeDays: 14,
    logger,
    lines,
    ...overrides,
  };
}

/**
 * A Workspaces of its own (a fresh root unless `overrides` say otherwise) with one workspace
 * open on `jobfleet/task-<jobId>` of the repository's main; `done` removes it and closes.
 */
export async function openOne(repoDir: string, jobId: string, claimEpoch = 1, overrides: Partial<WorkspacesOptions> = {}) {
  const options = workspaceOptions(overrides);
  const workspaces = await openWorkspaces(options);
  const ws = await workspaces.open({
    jobId,
    claimEpoch,
    repository: { url: repoDir, defaultBranch: 'main' },
    branch: `jobfleet/task-${jobId}`,
  });
  const done = async () => {
    await ws.remove();
    await workspaces.close();
  };
  return { options, workspaces, ws, done };
}
