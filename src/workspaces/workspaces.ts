/**
 * The workspaces of one worker process, under WORKSPACE_ROOT.
 *
 * Per process: one slot directory (made with the first workspace), one mirror per repository
 * URL in it, one worktree per job. Within the process a mirror is fetched and given worktrees
 * by one open at a time, and a branch is held by one workspace at a time (from open to remove),
 * so a second job on the same branch starts from what the first pushed. Other processes have
 * mirrors of their own and never touch this slot while its owner lives.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { coerceError } from '../errors/app-error.js';
import type { Logger } from '../logger.js';
import { createKeyedLock } from '../util/keyed-lock.js';
import { GitError, git } from './git.js';
import { createMirrorCache } from './mirror-cache.js';
import { createMirror, fetchMirror, initConfig, mirrorName, remoteBranches, touchMirror, writeMirrorConfig } from './mirror.js';
import { salvageOrphans } from './orphans.js';
import { createSlot, entriesOf, jobsDir, mirrorsDir, touchOwner } from './slot.js';
import { OWNER_HEARTBEAT_MS } from './slot-owner.js';
import { failure, type RepositoryRef, type Workspace, type WorkspaceContext, type WorkspaceMetadata, workspaceOf } from './workspace.js';
import { abortReason, WorkspaceAbortedError, WorkspaceError, WorkspaceRootError } from './workspace-error.js';

export interface WorkspacesOptions {
  /** WORKSPACE_ROOT */
  root: string;
  /** WORKSPACE_GIT_AUTHOR: the author and committer of jobfleet's own commits. */
  gitAuthor: { name: string; email: string };
  /** GIT_TIMEOUT_MS: a git command running longer is killed with its process group. */
  gitTimeoutMs: number;
  /**
   * WORKSPACE_CACHE_MAX_AGE_DAYS: a mirror unused for longer is deleted: this worker's own (looked
   * for by an open, once per cachePruneIntervalMs), and a dead worker's instead of being adopted.
   */
  cacheMaxAgeDays: number;
  /** How often an open looks for this worker's mirrors to prune. @defaultValue one hour */
  cachePruneIntervalMs?: number;
  /**
   * How often this worker touches its slot's owner.json, so that a worker in another pid
   * namespace can tell it lives (and that it died: MISSED_HEARTBEATS missed). The same value
   * judges other slots' heartbeats. @defaultValue OWNER_HEARTBEAT_MS (one minute)
   */
  ownerHeartbeatMs?: number;
  logger: Logger;
}

export interface OpenRequest {
  jobId: string;
  claimEpoch: number;
  repository: RepositoryRef;
  branch: string;
  /** Aborting it stops an open that waits for its branch or has not fetched yet (WorkspaceAbortedError). */
  signal?: AbortSignal;
}

export interface Workspaces {
  /**
   * Fetches the repository into this worker's mirror and makes a worktree on `branch`, starting
   * from the branch's tip when it exists in the repository, else from the default branch's tip.
   * Waits while another workspace of this process holds the same branch of the same repository.
   * A failed open removes what it made and throws a WorkspaceError; an aborted one throws a
   * WorkspaceAbortedError, leaving nothing either.
   */
  open(request: OpenRequest): Promise<Workspace>;
  /** Waits for workspaces being removed; leaves mirrors for the next worker to adopt. */
  close(): Promise<void>;
}

/** A job id becomes a directory name: nothing that could leave the jobs directory. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** How many of the repository's branches a branch_not_found message lists. */
const LISTED_BRANCHES = 10;
const HOUR_MS = 60 * 60 * 1000;

/** Checks the root (throws WorkspaceRootError), salvages and removes orphaned slots, adopts their mirrors. */
export async function openWorkspaces(options: WorkspacesOptions): Promise<Workspaces> {
  await checkRoot(options.root);
  const mirrors = createKeyedLock();
  // Probed once per process, when the first mirror config is written.
  let init: Promise<string> | undefined;
  const context: WorkspaceContext = {
    root: options.root,
    gitAuthor: options.gitAuthor,
    gitTimeoutMs: options.gitTimeoutMs,
    logger: options.logger,
    mirrorLock: mirrors,
    async resetMirrorConfig(mirror, url) {
      init ??= initConfig(options.root, options.gitTimeoutMs).catch((thrown) => {
        init = undefined; // the next write tries again
        throw thrown;
      });
      await writeMirrorConfig(mirror, { init: await init, url, author: options.gitAuthor });
    },
  };
  const heartbeatMs = options.ownerHeartbeatMs ?? OWNER_HEARTBEAT_MS;
  let heartbeat: NodeJS.Timeout | undefined;
  let closed = false;
  let slot: Promise<string> | undefined;
  const ownSlot = () =>
    (slot ??= createSlot(options.root).then(
      (dir) => {
        if (closed) return dir; // made by an open that raced close: no heartbeat to stop later
        heartbeat = setInterval(() => {
          touchOwner(dir).catch((thrown) => options.logger.warn({ err: coerceError(thrown), slot: dir }, 'could not touch owner.json'));
        }, heartbeatMs);
        // The heartbeat alone does not keep the process alive.
        heartbeat.unref();
        return dir;
      },
      (thrown) => {
        slot = undefined; // the next open tries again
        throw thrown;
      },
    ));
  await salvageOrphans({ context, cacheMaxAgeDays: options.cacheMaxAgeDays, heartbeatMs, ownSlot });

  const cache = createMirrorCache({
    maxAgeDays: options.cacheMaxAgeDays,
    intervalMs: options.cachePruneIntervalMs ?? HOUR_MS,
    lock: mirrors,
    logger: options.logger,
  });
  const branches = createKeyedLock();
  const open = new Set<string>();
  const removals = new Set<Promise<void>>();

  return {
    async open(request) {
      if (closed) throw new WorkspaceError('workspace_failed', 'the workspaces of this worker are closed');
      const { signal } = request;
      const name = `${request.jobId}-${request.claimEpoch}`;
      if (!SAFE_NAME.test(request.jobId) || !Number.isSafeInteger(request.claimEpoch) || request.claimEpoch < 0) {
        throw new WorkspaceError(
          'workspace_failed',
          `cannot make a workspace named for job ${JSON.stringify(request.jobId)}, epoch ${request.claimEpoch}`,
        );
      }
      if (open.has(name)) {
        throw new WorkspaceError('workspace_failed', `job ${request.jobId} (epoch ${request.claimEpoch}) already has a workspace`);
      }
      open.add(name);
      let releaseBranch = () => {};
      let releaseMirror = () => {};
      try {
        signal?.throwIfAborted();
        await checkBranchName(request.branch, options.gitTimeoutMs);
        const slotDir = await ownSlot();
        const mirror = path.join(mirrorsDir(slotDir), mirrorName(request.repository.url));
        cache.use(mirror);
        releaseMirror = () => cache.release(mirror);
        await cache.prune(slotDir);
        // A job cancelled while it waits here must not wait for the branch's holder to finish.
        releaseBranch = await branches.acquire(`${mirror}\n${request.branch}`, signal);
        const metadata = await mirrors.run(mirror, () => makeWorktree(context, mirror, jobsDir(slotDir), request), signal);
        const workspace = workspaceOf(metadata, metadataFile(metadata), context, (kept) => {
          open.delete(name);
          releaseBranch();
          // A kept workspace's worktree needs its mirror until a later start salvages it.
          if (!kept) releaseMirror();
        });
        const remove = () => {
          const removal = workspace.remove();
          removals.add(removal);
          void removal.finally(() => removals.delete(removal));
          return removal;
        };
        return { ...workspace, remove };
      } catch (thrown) {
        open.delete(name);
        releaseBranch();
        releaseMirror();
        // The lock and the checks throw the signal's own reason; a git failure stays what it is.
        if (signal?.aborted && thrown === signal.reason) {
          throw new WorkspaceAbortedError(`the workspace of job ${request.jobId} was not opened: ${abortReason(signal)}`);
        }
        throw failure('workspace_failed', thrown);
      }
    },

    async close() {
      closed = true;
      await Promise.all(removals);
      clearInterval(heartbeat);
      // A slot with neither mirrors nor workspaces is of no use to the next worker.
      if (slot && open.size === 0) {
        const dir = await slot;
        if ((await entriesOf(mirrorsDir(dir))).length === 0 && (await entriesOf(jobsDir(dir))).length === 0) {
          await rm(dir, { recursive: true, force: true });
        }
      }
    },
  };
}

/** Fetches, picks the start point and adds the worktree; on any failure undoes what it made. */
async function makeWorktree(context: WorkspaceContext, mirror: string, jobs: string, request: OpenRequest): Promise<WorkspaceMetadata> {
  const { gitTimeoutMs: timeoutMs } = context;
  const created = !existsSync(mirror);
  const dir = path.join(jobs, `${request.jobId}-${request.claimEpoch}`);
  const metadata: WorkspaceMetadata = {
    job_id: request.jobId,
    claim_epoch: request.claimEpoch,
    branch: request.branch,
    base_sha: '',
    repository_url: request.repository.url,
    mirror,
    dir,
    created_at: new Date().toISOString(),
  };
  // The last moment to stop cheaply, nothing made yet: a fetch can take long, and is not interrupted.
  request.signal?.throwIfAborted();
  let worktreeStarted = false;
  try {
    if (created) await createMirror(mirror, timeoutMs);
    // Whatever an agent of an earlier workspace set in the config, the fetch reads jobfleet's.
    await context.resetMirrorConfig(mirror, request.repository.url);
    await fetchMirror(mirror, request.repository.url, timeoutMs).catch((thrown) => {
      throw failure('repository_unreachable', thrown);
    });
    await touchMirror(mirror);
    metadata.base_sha = startPoint(await remoteBranches(mirror, timeoutMs), request);
    // A workspace kept because its work is not all saved (the same job and epoch opened again)
    // must not be overwritten, nor deleted by the clean-up below.
    if (existsSync(dir) || existsSync(metadataFile(metadata))) {
      throw new WorkspaceError('workspace_failed', `${dir} already exists: a workspace kept with work not yet saved`);
    }
    // The metadata goes first: a crash from here on leaves what a later start needs to clean up.
    await writeMetadata(metadata);
    worktreeStarted = true;
    await git(['worktree', 'add', '--quiet', '-B', request.branch, '--', dir, metadata.base_sha], { cwd: mirror, timeoutMs });
    return metadata;
  } catch (thrown) {
    if (worktreeStarted) await undoWorktree(metadata, timeoutMs, context.logger);
    if (created) await rm(mirror, { recursive: true, force: true });
    throw thrown instanceof WorkspaceError ? thrown : failure('workspace_failed', thrown);
  }
}

/** The branch's tip when the repository has the branch, else the default branch's tip. */
function startPoint(branches: Map<string, string>, request: { repository: RepositoryRef; branch: string }): string {
  const { url, defaultBranch } = request.repository;
  const start = branches.get(request.branch) ?? branches.get(defaultBranch);
  if (start) return start;
  if (branches.size === 0) throw new WorkspaceError('repository_empty', `the repository ${url} has no branches (no commits yet)`);
  const names = [...branches.keys()].sort();
  const listed = names.slice(0, LISTED_BRANCHES).join(', ') + (names.length > LISTED_BRANCHES ? `, ... (${names.length} in all)` : '');
  throw new WorkspaceError('branch_not_found', `the default branch ${defaultBranch} does not exist in ${url}; its branches: ${listed}`, {
    default_branch: defaultBranch,
    branches: names.slice(0, LISTED_BRANCHES),
  });
}

async function undoWorktree(metadata: WorkspaceMetadata, timeoutMs: number, logger: Logger): Promise<void> {
  const quietly = (args: string[]) => git(args, { cwd: metadata.mirror, timeoutMs }).catch(() => undefined);
  try {
    await quietly(['worktree', 'remove', '--force', '--', metadata.dir]);
    await rm(metadata.dir, { recursive: true, force: true });
    await quietly(['branch', '--quiet', '-D', '--', metadata.branch]);
    await quietly(['worktree', 'prune']);
    await rm(metadataFile(metadata), { force: true });
  } catch (thrown) {
    logger.error({ err: coerceError(thrown), workspace: metadata.dir }, 'could not clean up after a failed open');
  }
}

const metadataFile = (metadata: WorkspaceMetadata) => `${metadata.dir}.json`;

/** Written whole, then renamed into place: a crash never leaves half a file to misread. */
async function writeMetadata(metadata: WorkspaceMetadata): Promise<void> {
  const file = metadataFile(metadata);
  const draft = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(draft, `${JSON.stringify(metadata, null, 2)}\n`);
  await rename(draft, file);
}

/** git's own rule for branch names, before anything is made. */
async function checkBranchName(branch: string, timeoutMs: number): Promise<void> {
  try {
    await git(['check-ref-format', `refs/heads/${branch}`], { cwd: '/', timeoutMs });
  } catch (thrown) {
    if (thrown instanceof GitError && !thrown.timedOut) {
      throw new WorkspaceError('workspace_failed', `${JSON.stringify(branch)} is not a valid git branch name`);
    }
    throw failure('workspace_failed', thrown);
  }
}

/** WORKSPACE_ROOT exists (or can be made) and takes a file. */
async function checkRoot(root: string): Promise<void> {
  const probe = path.join(root, `.probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(root, { recursive: true });
    await writeFile(probe, '');
    await unlink(probe);
  } catch (thrown) {
    throw new WorkspaceRootError(root, thrown as NodeJS.ErrnoException);
  }
}
