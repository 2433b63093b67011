/**
 * One job's workspace: a git worktree of a per-worker mirror, on the job's own branch. Publish
 * and salvage commit what the agent left and push it; nothing is ever force-pushed, and when a
 * push fails the work is saved elsewhere (the salvage branch, else a bundle file) before the
 * caller removes the worktree. Work that could not be saved that way (git refused to commit
 * part of it, or neither a push nor a bundle worked) is never deleted: remove() keeps such a
 * workspace for the orphan salvage of the next worker start.
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
   * `complete` is false when some of the work is only in the worktree still (see SalvageResult).
   */
  salvage(why: string): Promise<SalvageResult>;
  /**
   * Drops what is not committed (`git reset --hard HEAD`, `git clean -fd`), so that what a check
   * left behind (build output, a formatter's edits) is not committed by the next step. Ignored
   * files stay (not -x): node_modules and the like, which a later step may need. Commits stay.
   */
  discard(): Promise<void>;
  /**
   * Removes the worktree, its local branch and metadata. Idempotent. A workspace whose work is
   * not all saved (the last salvage was incomplete or threw, or the last publish failed before
   * its push) is kept instead: worktree and metadata stay for the next worker start's orphan
   * salvage, and only its local branch is let go, so later jobs can work on that branch.
   */
  remove(): Promise<void>;
}

/** What a salvage saved. */
export interface SalvageResult {
  /** The salvage branch's record; null when there was nothing to salvage. */
  record: WorkspaceRecord | null;
  /** The bundle holding the work when the salvage push failed. */
  bundle: string | null;
  /**
   * False when some of the work is still only in the worktree: git refused to commit part of it
   * (a nested repository without a commit, an unreadable file) or the commit failed, or neither
   * the push nor the bundle worked. remove() then keeps the workspace.
   */
  complete: boolean;
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
  /** Held (per mirror path) while git changes a mirror's worktrees, branches or config. */
  mirrorLock: KeyedLock;
  /** Writes the mirror's config whole (writeMirrorConfig), its origin `url`; the caller holds the mirror lock. */
  resetMirrorConfig(mirror: string, url: string): Promise<void>;
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
export function workspaceOf(
  metadata: WorkspaceMetadata,
  metadataFile: string,
  context: WorkspaceContext,
  /** Called once removal is over; `kept` when the workspace stayed because its work is not all saved. */
  onRemoved: (kept: boolean) => void = () => {},
): Workspace {
  const { dir, branch, base_sha: baseSha, mirror, job_id: jobId, claim_epoch: epoch } = metadata;
  const { gitTimeoutMs: timeoutMs, logger } = context;
  const log = logger.child({ job_id: jobId, claim_epoch: epoch, workspace: dir });
  let removal: Promise<void> | undefined;
  /** True while some of the work is only in the worktree: the last save attempt did not save it all. */
  let unsaved = false;

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

  /**
   * Before jobfleet's own git works in the worktree: the config it shares with the mirror made
   * jobfleet's again, so that nothing the agent set there steers the add, the commit or the push.
   */
  const reclaimConfig = () => context.mirrorLock.run(mirror, () => context.resetMirrorConfig(mirror, metadata.repository_url));

  /** The record of base..head, a WorkspaceError when git cannot tell it. */
  const record = (change: { branch: string; base: string; head: string; pushed: boolean }) =>
    diffRecord(dir, timeoutMs, change).catch((thrown) => {
      throw failure('workspace_failed', thrown);
    });

  /**
   * `git add -A --ignore-errors`: one path git refuses (a nested repository without a commit, an
   * unreadable file) must not keep everything else out of the commit. Returns git's refusal (or
   * the nested repositories whose work a commit would not hold), null when everything was staged;
   * what a refusal names is still only in the worktree.
   */
  const stageAll = async (): Promise<Error | null> => {
    await clearStaleIndexLock();
    let refused: GitError | null = null;
    try {
      await inWorktree(['add', '-A', '--ignore-errors']);
    } catch (thrown) {
      if (!(thrown instanceof GitError) || thrown.timedOut) throw thrown;
      refused = thrown;
    }
    const nested = await nestedRepositories();
    if (nested.length === 0) return refused;
    const words =
      `nested git repository in the workspace, not a submodule of the repository: ${nested.map((file) => JSON.stringify(file)).join(', ')} ` +
      '(a commit would hold only a pointer to its commit, not its files, its commits or its uncommitted changes)';
    return new Error(refused ? `${refused.message}\n${words}` : words);
  };

  /**
   * Staged gitlinks (mode 160000) that are neither in the base commit's tree nor declared in
   * .gitmodules: repositories the agent cloned or made inside the worktree. `git add` stages such
   * a repository, commits included, as a bare pointer, so a push "succeeds" while its files, its
   * commits and its uncommitted edits are only in the worktree.
   */
  const nestedRepositories = async (): Promise<string[]> => {
    const gitlinks = (listing: string, modeField: number) =>
      listing
        .split('\0')
        .filter((entry) => entry.split(' ')[modeField] === '160000')
        .map((entry) => entry.slice(entry.indexOf('\t') + 1));
    const staged = gitlinks((await inWorktree(['ls-files', '--stage', '-z'])).stdout, 0);
    if (staged.length === 0) return [];
    const known = new Set(gitlinks((await inWorktree(['ls-tree', '-r', '-z', '--full-tree', baseSha])).stdout, 0));
    for (const declared of await declaredSubmodules()) known.add(declared);
    return staged.filter((file) => !known.has(file));
  };

  /** The paths the staged .gitmodules declares; none when there is none (or git cannot read it). */
  const declaredSubmodules = async (): Promise<string[]> => {
    const output = await inWorktree(['config', '-z', '--blob', ':.gitmodules', '--get-regexp', '^submodule\\..*\\.path$'], {
      okExitCodes: [1],
    }).catch((thrown) => {
      log.warn({ err: coerceError(thrown) }, 'could not read .gitmodules; no submodule is taken as declared');
      return { stdout: '' };
    });
    return output.stdout
      .split('\0')
      .filter((entry) => entry.includes('\n'))
      .map((entry) => entry.slice(entry.indexOf('\n') + 1).replace(/\/+$/, ''));
  };

  /** A commit of whatever is staged, as WORKSPACE_GIT_AUTHOR; nothing when nothing is. */
  const commitStaged = async (message: string): Promise<void> => {
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

  /**
   * To the repository's URL itself, not `origin`: agents of other workspaces of the mirror (which
   * share its config) can rewrite the `origin` section (url, pushurl) after reclaimConfig.
   */
  const push = (ref: string) => inWorktree(['push', '--quiet', '--', metadata.repository_url, `HEAD:refs/heads/${ref}`]);

  const salvage = async (why: string): Promise<SalvageResult> => {
    if (!existsSync(path.join(dir, '.git'))) {
      // Nothing git can save, now or at a later start: a worktree whose open never finished.
      log.warn({ why }, 'nothing to salvage: the worktree is gone');
      unsaved = false;
      return { record: null, bundle: null, complete: true };
    }
    // Until this salvage has saved everything (a throw below leaves it so), the worktree is kept.
    unsaved = true;
    await reclaimConfig().catch((thrown) => {
      throw failure('workspace_failed', thrown, 'could not reset the mirror config before salvaging: ');
    });
    let complete = true;
    try {
      const refused = await stageAll();
      // What could be staged is committed either way: it is then pushed with the rest.
      await commitStaged(`jobfleet: work salvaged from job ${jobId} (${why})`);
      if (refused) {
        complete = false;
        log.error({ err: refused, why }, 'git refused to commit part of the uncommitted work; the rest is salvaged');
      }
    } catch (thrown) {
      // What the agent committed itself can still be saved.
      complete = false;
      log.error({ err: coerceError(thrown), why }, 'could not commit the uncommitted work while salvaging');
    }
    const head = await headSha().catch((thrown) => {
      throw failure('workspace_failed', thrown);
    });
    const result = await saveHead(head, why);
    unsaved = !(complete && result.complete);
    return { ...result, complete: !unsaved };
  };

  /** Pushes head to the salvage branch, else bundles it; complete false when neither worked. */
  const saveHead = async (head: string, why: string): Promise<SalvageResult> => {
    if (head === baseSha) return { record: null, bundle: null, complete: true };
    const salvageBranch = `jobfleet/salvage/${jobId}-${epoch}`;
    const change = { branch: salvageBranch, base: baseSha, head };
    try {
      await push(salvageBranch);
      log.info({ why, branch: salvageBranch, head }, 'salvaged the work to a branch');
      return { record: await record({ ...change, pushed: true }), bundle: null, complete: true };
    } catch (pushError) {
      try {
        const bundle = await writeBundle(head);
        log.warn({ why, bundle, err: coerceError(pushError) }, 'the salvage push failed; the work is in a bundle');
        return { record: await record({ ...change, pushed: false }), bundle, complete: true };
      } catch (bundleError) {
        log.error({ why, err: coerceError(bundleError), push_error: coerceError(pushError).message }, 'the work is only in the worktree');
        return { record: await record({ ...change, pushed: false }), bundle: null, complete: false };
      }
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
      if (existsSync(path.join(dir, '.git'))) unsaved = true; // until pushed (or salvaged)
      await reclaimConfig();
      const refused = await stageAll();
      // Publishing part of the work would put a branch up for review without the rest: refuse,
      // and leave everything to the caller's salvage (which commits what it can and keeps the rest).
      if (refused) throw failure('workspace_failed', refused, 'git cannot commit all of the work (it stays in the workspace): ');
      await commitStaged(options.message ?? `jobfleet: work left uncommitted by job ${jobId}`);
      head = await headSha();
    } catch (thrown) {
      throw failure('workspace_failed', thrown);
    }
    if (head === since) {
      unsaved = false;
      return record({ branch, base: since, head, pushed: false });
    }
    try {
      await push(branch);
      unsaved = false;
    } catch (thrown) {
      const code = thrown instanceof GitError && !thrown.timedOut ? pushFailureCode(thrown.stderr) : 'workspace_failed';
      let salvaged: SalvageResult = { record: null, bundle: null, complete: false };
      const details: Record<string, unknown> = {};
      try {
        salvaged = await salvage(code);
      } catch (salvageError) {
        details.salvage_error = coerceError(salvageError).message;
      }
      if (!salvaged.complete) {
        details.salvage_error ??= `the work could not all be saved; the workspace ${dir} is kept for the next worker start`;
      }
      throw failure(code, thrown, '', { salvage: salvaged.record, bundle: salvaged.bundle, ...details });
    }
    return record({ branch, base: since, head, pushed: true });
  };

  const discard = async (): Promise<void> => {
    if (removal) throw new WorkspaceError('workspace_failed', `the workspace of job ${jobId} was removed`);
    try {
      await reclaimConfig();
      await clearStaleIndexLock();
      await inWorktree(['reset', '--quiet', '--hard', 'HEAD']);
      await inWorktree(['clean', '--quiet', '-f', '-d']);
    } catch (thrown) {
      throw failure('workspace_failed', thrown);
    }
  };

  const removeNow = async (): Promise<void> => {
    const kept = unsaved;
    const quietly = (args: string[], cwd = mirror) =>
      git(args, { cwd, timeoutMs }).catch((thrown) => log.debug({ err: coerceError(thrown), args }, 'git while removing'));
    try {
      // Not while another workspace of the mirror is being made: one change to its worktrees at a time.
      await context.mirrorLock.run(mirror, async () => {
        if (kept) {
          // Only the worktree's HEAD leaves the branch, so that a later job can check the branch
          // out; its commits stay reachable from that HEAD. update-ref, not checkout: neither the
          // index nor a file is touched.
          if (existsSync(path.join(dir, '.git'))) await quietly(['update-ref', '--no-deref', 'HEAD', 'HEAD'], dir);
          await quietly(['branch', '--quiet', '-D', '--', branch]);
          return;
        }
        await quietly(['worktree', 'remove', '--force', '--', dir]);
        await rm(dir, { recursive: true, force: true });
        await quietly(['branch', '--quiet', '-D', '--', branch]);
        await quietly(['worktree', 'prune']);
      });
      if (kept) {
        log.error({ metadata: metadataFile }, 'the work of this workspace is not all saved: it is kept for the next worker start');
        return;
      }
      await rm(metadataFile, { force: true });
      await touchMirror(mirror);
    } catch (thrown) {
      log.error({ err: coerceError(thrown) }, 'could not remove the workspace');
    } finally {
      onRemoved(kept);
    }
  };

  return {
    dir,
    branch,
    baseSha,
    publish,
    salvage,
    discard,
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
