/**
 * One job's workspace: a git worktree of a per-worker mirror, on the job's own branch. Publish
 * and salvage commit what the agent left and push it; nothing is ever force-pushed, and when a
 * push fails the work is saved elsewhere (the salvage branch, else a bundle file) before the
 * caller removes the worktree.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { coerceError } from '../errors/app-error.js';
import type { Logger } from '../logger.js';
import type { KeyedLock } from '../util/keyed-lock.js';
import { GitError, git } from './git.js';
import { touchMirror } from './mirror.js';
import { WorkspaceError, type WorkspaceErrorCode } from './workspace-error.js';
import { diffRecord, type WorkspaceRecord } from './workspace-record.js';

export type { WorkspaceRecord } from './workspace-record.js';

/** Where a product's code lives: any URL or path git can fetch from, and its default branch. */
export interface RepositoryRef {
  url: string;
  defaultBranch: string;
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

/** What `<slot>/jobs/<job>-<epoch>.json` holds: enough to salvage the workspace after a crash. */
export interface WorkspaceMetadata {
  job_id: string;
  claim_epoch: number;
  branch: string;
  base_sha: string;
  repository_url: string;
  /** The mirror the worktree belongs to. */
  mirror: string;
  /** The worktree. */
  dir: string;
  created_at: string;
}

export interface WorkspaceContext {
  root: string;
  gitAuthor: { name: string; email: string };
  gitTimeoutMs: number;
  logger: Logger;
  /** Held (per mirror path) while git changes a mirror's worktrees and branches. */
  mirrorLock: KeyedLock;
}

/** A refused push: git's words for a refusal (non-fast-forward, a hook, permissions). */
const REFUSED = /\[(?:remote )?rejected\]|denied|forbidden|\b403\b|protected branch|not allowed/i;
/** A push that never reached the repository. */
const UNREACHABLE =
  /could not resolve|connection (?:refused|timed out)|unable to access|does not appear to be a git repository|could not read from remote/i;

/**
 * The workspace described by `metadata`, whose worktree exists (or existed): a fresh one from
 * Workspaces.open, or a dead worker's, found at start, to be salvaged and removed.
 */
export function workspaceOf(metadata: WorkspaceMetadata, metadataFile: string, context: WorkspaceContext, onRemoved = () => {}): Workspace {
  const { dir, branch, base_sha: baseSha, mirror, job_id: jobId, claim_epoch: epoch } = metadata;
  const { gitTimeoutMs: timeoutMs, logger } = context;
  const log = logger.child({ job_id: jobId, claim_epoch: epoch, workspace: dir });
  let removal: Promise<void> | undefined;

  /**
   * Git in the worktree, never above it: a worktree without its `.git` file (deleted, or never
   * finished by a worker that died) would let git find whatever repository encloses the root,
   * say a home directory kept in git, and commit and push that instead.
   */
  const inWorktree = (args: string[], options: { env?: Record<string, string>; okExitCodes?: number[] } = {}) => {
    if (!existsSync(path.join(dir, '.git'))) {
      return Promise.reject(new WorkspaceError('workspace_failed', `${dir} is not a git worktree (any more)`));
    }
    return git(args, { cwd: dir, timeoutMs, ...options });
  };

  /** The record of base..head, a WorkspaceError when git cannot tell it. */
  const record = (change: { branch: string; base: string; head: string; pushed: boolean }) =>
    diffRecord(dir, timeoutMs, change).catch((thrown) => {
      throw failure('workspace_failed', thrown);
    });

  /** `git add -A` and a commit of whatever that staged, as WORKSPACE_GIT_AUTHOR. */
  const commitLeftovers = async (message: string): Promise<void> => {
    await clearStaleIndexLock();
    await inWorktree(['add', '-A']);
    const staged = await inWorktree(['diff', '--cached', '--quiet'], { okExitCodes: [1] });
    if (staged.exitCode === 0) return;
    const { name, email } = context.gitAuthor;
    // The environment outranks any configuration the agent may have changed in the worktree.
    await inWorktree(['-c', 'commit.gpgsign=false', 'commit', '--quiet', '--no-verify', '-m', message], {
      env: { GIT_AUTHOR_NAME: name, GIT_AUTHOR_EMAIL: email, GIT_COMMITTER_NAME: name, GIT_COMMITTER_EMAIL: email },
    });
  };

  /**
   * An agent killed in the middle of a git command leaves the index locked, and every later
   * `git add` fails on it. Once the agent is gone (publish and salvage run after it), no git
   * command of its can still be running in the worktree, so the lock is stale.
   */
  const clearStaleIndexLock = async (): Promise<void> => {
    const { stdout } = await inWorktree(['rev-parse', '--git-path', 'index.lock']);
    const lock = path.resolve(dir, stdout.trim());
    if (existsSync(lock)) {
      log.warn({ lock }, 'removing a stale index.lock the agent left behind');
      await rm(lock, { force: true });
    }
  };

  const headSha = async () => (await inWorktree(['rev-parse', '--verify', 'HEAD'])).stdout.trim();

  const push = (ref: string) => inWorktree(['push', '--quiet', '--', 'origin', `HEAD:refs/heads/${ref}`]);

  const salvage = async (why: string): Promise<{ record: WorkspaceRecord | null; bundle: string | null }> => {
    if (!existsSync(path.join(dir, '.git'))) {
      log.warn({ why }, 'nothing to salvage: the worktree is gone');
      return { record: null, bundle: null };
    }
    try {
      await commitLeftovers(`jobfleet: work salvaged from job ${jobId} (${why})`);
    } catch (thrown) {
      // What the agent committed itself can still be saved.
      log.error({ err: coerceError(thrown), why }, 'could not commit the uncommitted work while salvaging');
    }
    const head = await headSha().catch((thrown) => {
      throw failure('workspace_failed', thrown);
    });
    if (head === baseSha) return { record: null, bundle: null };
    const salvageBranch = `jobfleet/salvage/${jobId}-${epoch}`;
    const change = { branch: salvageBranch, base: baseSha, head };
    try {
      await push(salvageBranch);
      log.info({ why, branch: salvageBranch, head }, 'salvaged the work to a branch');
      return { record: await record({ ...change, pushed: true }), bundle: null };
    } catch (pushError) {
      const bundle = await writeBundle(head);
      log.warn({ why, bundle, err: coerceError(pushError) }, 'the salvage push failed; the work is in a bundle');
      return { record: await record({ ...change, pushed: false }), bundle };
    }
  };

  /** The commits since base (all of HEAD when base is not its ancestor) in one file, nothing lost. */
  const writeBundle = async (head: string): Promise<string> => {
    const file = path.join(context.root, 'unpushed', `${jobId}-${epoch}.bundle`);
    try {
      await mkdir(path.dirname(file), { recursive: true });
      const ancestry = await inWorktree(['merge-base', '--is-ancestor', baseSha, head], { okExitCodes: [1] });
      await inWorktree(['bundle', 'create', '--quiet', file, ancestry.exitCode === 0 ? `${baseSha}..HEAD` : 'HEAD']);
      return file;
    } catch (thrown) {
      throw failure('workspace_failed', thrown, `the work of job ${jobId} could be neither pushed nor bundled: `);
    }
  };

  const publish = async (options: { message?: string; since?: string } = {}): Promise<WorkspaceRecord> => {
    if (removal) throw new WorkspaceError('workspace_failed', `the workspace of job ${jobId} was removed before it was published`);
    const since = options.since ?? baseSha;
    let head: string;
    try {
      await commitLeftovers(options.message ?? `jobfleet: work left uncommitted by job ${jobId}`);
      head = await headSha();
    } catch (thrown) {
      throw failure('workspace_failed', thrown);
    }
    if (head === since) return record({ branch, base: since, head, pushed: false });
    try {
      await push(branch);
    } catch (thrown) {
      const code = thrown instanceof GitError && !thrown.timedOut ? pushFailureCode(thrown.stderr) : 'workspace_failed';
      let salvaged: { record: WorkspaceRecord | null; bundle: string | null } = { record: null, bundle: null };
      const details: Record<string, unknown> = {};
      try {
        salvaged = await salvage(code);
      } catch (salvageError) {
        details.salvage_error = coerceError(salvageError).message;
      }
      throw failure(code, thrown, '', { salvage: salvaged.record, bundle: salvaged.bundle, ...details });
    }
    return record({ branch, base: since, head, pushed: true });
  };

  const removeNow = async (): Promise<void> => {
    const quietly = (args: string[]) =>
      git(args, { cwd: mirror, timeoutMs }).catch((thrown) => log.debug({ err: coerceError(thrown), args }, 'git while removing'));
    try {
      // Not while another workspace of the mirror is being made: one change to its worktrees at a time.
      await context.mirrorLock.run(mirror, async () => {
        await quietly(['worktree', 'remove', '--force', '--', dir]);
        await rm(dir, { recursive: true, force: true });
        await quietly(['branch', '--quiet', '-D', '--', branch]);
        await quietly(['worktree', 'prune']);
      });
      await rm(metadataFile, { force: true });
      await touchMirror(mirror);
    } catch (thrown) {
      log.error({ err: coerceError(thrown) }, 'could not remove the workspace');
    } finally {
      onRemoved();
    }
  };

  return {
    dir,
    branch,
    baseSha,
    publish,
    salvage,
    remove: () => (removal ??= removeNow()),
  };
}

/** Anything but a push that never reached the repository counts as refused. */
function pushFailureCode(stderr: string): WorkspaceErrorCode {
  return UNREACHABLE.test(stderr) && !REFUSED.test(stderr) ? 'repository_unreachable' : 'push_rejected';
}

/** A WorkspaceError carrying git's words (or the error's message when git never ran). */
export function failure(code: WorkspaceErrorCode, thrown: unknown, prefix = '', details: Record<string, unknown> = {}): WorkspaceError {
  if (thrown instanceof WorkspaceError) return thrown;
  const error = coerceError(thrown);
  return new WorkspaceError(code, `${prefix}${error.message}`, details);
}
