/**
 * The workspaces of one worker process, under WORKSPACE_ROOT.
 */
import type { Logger } from '../logger.js';
import type { RepositoryRef, Workspace } from './workspace.js';

export interface WorkspacesOptions {
  /** WORKSPACE_ROOT */
  root: string;
  /** WORKSPACE_GIT_AUTHOR: the author and committer of jobfleet's own commits. */
  gitAuthor: { name: string; email: string };
  /** GIT_TIMEOUT_MS: a git command running longer is killed with its process group. */
  gitTimeoutMs: number;
  /** WORKSPACE_CACHE_MAX_AGE_DAYS: a dead worker's mirror unused for longer is deleted, not adopted. */
  cacheMaxAgeDays: number;
  logger: Logger;
}

export interface Workspaces {
  /**
   * Fetches the repository into this worker's mirror and makes a worktree on `branch`, starting
   * from the branch's tip when it exists in the repository, else from the default branch's tip.
   * Waits while another workspace of this process holds the same branch.
   */
  open(request: { jobId: string; claimEpoch: number; repository: RepositoryRef; branch: string }): Promise<Workspace>;
  /** Waits for workspaces being removed; leaves mirrors for the next worker to adopt. */
  close(): Promise<void>;
}

/** Checks the root (throws WorkspaceRootError), salvages and removes orphaned slots, adopts their mirrors. */
export async function openWorkspaces(_options: WorkspacesOptions): Promise<Workspaces> {
  throw new Error('openWorkspaces: not implemented yet');
}
