/** Options for openWorkspaces in tests: a fresh root, a fixed author, a logger that keeps its lines. */
import { pino } from 'pino';
import type { WorkspacesOptions } from '../../src/workspaces/index.js';
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
