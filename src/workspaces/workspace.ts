/**
 * One job's workspace: a git worktree of a per-worker mirror, on the job's own branch.
 */

/** Where a product's code lives: any URL or path git can fetch from, and its default branch. */
export interface RepositoryRef {
  url: string;
  defaultBranch: string;
}

/** What a job did to its branch, as `git diff --numstat base head` tells it. */
export interface WorkspaceRecord {
  branch: string;
  base_sha: string;
  head_sha: string;
  /** Sorted paths that differ between base and head (no rename detection: a move is two paths). */
  changed_files: string[];
  insertions: number;
  deletions: number;
  /** False when head equals base: nothing was pushed and the branch was not touched. */
  pushed: boolean;
}

export interface Workspace {
  /** The worktree: the agent's working directory. */
  readonly dir: string;
  /** The branch the job works on, locally and in the repository. */
  readonly branch: string;
  /** The commit the workspace started from. */
  readonly baseSha: string;
  /**
   * Commits leftovers (with `message`, or the contract's default), pushes the branch when head
   * moved since `since` (default baseSha; never forced) and returns the record relative to
   * `since` (its base_sha is `since`). A refused push salvages first, then throws
   * WorkspaceError('push_rejected', git's words, { salvage, bundle }).
   */
  publish(options?: { message?: string; since?: string }): Promise<WorkspaceRecord>;
  /**
   * Commits leftovers and pushes to jobfleet/salvage/<job>-<epoch>; when that push fails, writes
   * a bundle under <root>/unpushed/ instead. `record` is null when there was nothing to salvage
   * (head equals base, nothing uncommitted); its `pushed` is false when the bundle holds the work.
   */
  salvage(why: string): Promise<{ record: WorkspaceRecord | null; bundle: string | null }>;
  /** Removes the worktree, its local branch and metadata. Idempotent. */
  remove(): Promise<void>;
}
