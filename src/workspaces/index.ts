/** The workspace module: a git worktree per job, from a per-worker mirror, and the verify check. */
export { runCheck, CheckAbortedError, type CheckOutcome, type RunCheckOptions } from './run-check.js';
export type { RepositoryRef, SalvageResult, Workspace, WorkspaceRecord } from './workspace.js';
export { WorkspaceAbortedError, WorkspaceError, WorkspaceRootError, type WorkspaceErrorCode } from './workspace-error.js';
export { type OpenRequest, openWorkspaces, type Workspaces, type WorkspacesOptions } from './workspaces.js';
