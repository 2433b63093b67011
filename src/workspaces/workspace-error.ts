/**
 * How a workspace fails a job. Each code names what the user can act on (fix the URL, push a
 * first commit, name an existing default branch, look at the refused push); the message carries
 * git's own words.
 */
import { JobFailure } from '../errors/job-failure.js';

export type WorkspaceErrorCode = 'repository_unreachable' | 'repository_empty' | 'branch_not_found' | 'push_rejected' | 'workspace_failed';

export class WorkspaceError extends JobFailure {
  override readonly name = 'WorkspaceError';
  declare readonly code: WorkspaceErrorCode;

  constructor(code: WorkspaceErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message, details);
  }
}

/**
 * The caller's signal aborted the open (a cancel, a lost lease, a shutdown) while it waited for
 * its branch or before it fetched: not a failure of the repository, so not a WorkspaceError; the
 * job ends for the abort's own cause. Nothing of the workspace was left behind.
 */
export class WorkspaceAbortedError extends Error {
  override readonly name = 'WorkspaceAbortedError';
}

/** The reason of an aborted signal, in words. */
export function abortReason(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'aborted';
}

/**
 * WORKSPACE_ROOT cannot be created or written. Not a job's failure: the worker cannot serve
 * implementation jobs at all, so it refuses to start. The message is one line naming
 * WORKSPACE_ROOT, the path and the OS error.
 */
export class WorkspaceRootError extends Error {
  override readonly name = 'WorkspaceRootError';

  constructor(
    readonly path: string,
    cause: NodeJS.ErrnoException,
  ) {
    super(`WORKSPACE_ROOT ${path} is not usable: ${oneLine(cause.message)}`);
  }
}

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ').trim();
