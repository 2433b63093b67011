/**
 * An implementation agent's run in its product's repository (SPEC "Workspaces"):
 * 1. open the job's workspace (a git worktree on the job's branch, from the worker's cache);
 * 2. the caller runs the agent there;
 * 3. publish what it wrote (commit what is left, push the branch) and run the product's check;
 * 4. on every other way out (cancel, timeout, lost lease, shutdown, an agent failure) salvage the
 *    work to the job's own branch first, so nothing an agent wrote is lost;
 * 5. remove the workspace, always.
 */
import type { JsonValue } from '../db/column-types.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import type { ProductRepository } from '../backlog/product-repository.js';
import { coerceError } from '../errors/app-error.js';
import { JobFailure } from '../errors/job-failure.js';
import { AgentAbortedError, AgentFailedError, type AgentWorkspace, type Prompt } from '../executors/executor.js';
import { isProviderLimit } from '../errors/provider-limit.js';
import { runCheck, type Workspace, WorkspaceError, type WorkspaceRecord } from '../workspaces/index.js';
import type { RunOutput, VerifyRecord, WorkspaceSettings } from './kind-handler.js';

export interface WorkspaceRun {
  job: ClaudeJob;
  repository: ProductRepository;
  branch: string;
  settings: WorkspaceSettings | null;
  signal: AbortSignal;
  log: (line: string) => void;
}

/** Runs `work` in the job's workspace; the workspace is salvaged when `work` throws, and removed. */
export async function inWorkspace<T>(run: WorkspaceRun, work: (workspace: Workspace) => Promise<T>): Promise<T> {
  if (!run.settings) {
    // Only a worker that serves implementation kinds prepares a workspace root.
    throw new JobFailure('workspace_failed', 'this worker has no workspace root; it cannot run jobs of a product with a repository');
  }
  let workspace: Workspace;
  try {
    workspace = await run.settings.workspaces.open({
      jobId: run.job.id,
      claimEpoch: run.job.claim_epoch,
      repository: { url: run.repository.url, defaultBranch: run.repository.defaultBranch },
      branch: run.branch,
      // A job cancelled (or timed out) while it waits for its branch or fetches goes at once.
      signal: run.signal,
    });
  } catch (thrown) {
    // The repository could not be prepared, so no agent ran: the job's error says so, and its
    // subject is left as it was (src/kinds/job-task.cascade.ts).
    if (thrown instanceof JobFailure) throw new JobFailure(thrown.code, thrown.message, { ...thrown.details, agent_ran: false });
    throw thrown;
  }
  run.log(`workspace ${workspace.dir} on branch ${workspace.branch} from ${workspace.baseSha}`);
  try {
    return await work(workspace);
  } catch (thrown) {
    throw await salvaged(run, workspace, thrown);
  } finally {
    await workspace.remove();
  }
}

/**
 * After the agent: commit and push its work, then run the product's check on it. An agent that
 * said it failed gets its work salvaged instead of published (its branch keeps only work that
 * its agent stood behind).
 */
export async function publishAndCheck(
  run: WorkspaceRun,
  workspace: Workspace,
  output: RunOutput,
  options: { failed: boolean; attempt: number; message?: string; since?: string },
): Promise<RunOutput> {
  if (options.failed) {
    const { record } = await salvage(run, workspace, 'agent_failed');
    return { ...output, salvage: record };
  }
  const record = await workspace.publish({ message: options.message, since: options.since });
  run.log(describe(record));
  const check = run.repository.checkCommand;
  if (!check) return { ...output, workspace: record };
  const verify = await verifyWorkspace(run, workspace, check, options.attempt);
  return { ...output, workspace: record, verify };
}

/** Runs the product's check in the workspace; an abort while it runs stops the job, not the check's verdict. */
export async function verifyWorkspace(run: WorkspaceRun, workspace: Workspace, command: string, attempt: number): Promise<VerifyRecord> {
  const settings = run.settings!;
  run.log(`check (attempt ${attempt} of ${settings.verifyMaxAttempts}): ${command}`);
  // An abort stops the check (CheckAbortedError): the job ends for that cause, with no verdict.
  const outcome = await runCheck({ command, cwd: workspace.dir, timeoutMs: settings.verifyTimeoutMs, log: run.log, signal: run.signal });
  run.log(outcome.passed ? 'check passed' : `check failed (${outcome.timed_out ? 'timed out' : `exit code ${outcome.exit_code}`})`);
  return { ...outcome, attempt, max_attempts: settings.verifyMaxAttempts };
}

/** What the agent is told about where it works and what happens to its work. */
export function workspacePrompt(prompt: Prompt, workspace: AgentWorkspace, repository: ProductRepository): Prompt {
  const lines = [
    `Workspace: a git worktree of ${repository.url} at ${workspace.dir}, on branch ${workspace.branch}, started from commit ${workspace.baseSha}.`,
    'Make your changes there. Commit them or leave them uncommitted: when you finish, jobfleet commits what is left and pushes the branch.',
    'Do not push, and do not switch branches.',
  ];
  if (repository.checkCommand) {
    lines.push(
      `When you finish, jobfleet runs the check \`${repository.checkCommand}\` in the workspace; the task is done only when it passes.`,
    );
  }
  return { system: prompt.system, user: `${prompt.user}\n\n${lines.join('\n')}` };
}

/** Why a run ended without publishing, in the words of the salvage commit and log. */
function salvageReason(run: WorkspaceRun, thrown: unknown): string {
  if (run.signal.aborted) return String(run.signal.reason);
  if (thrown instanceof AgentAbortedError) return thrown.reason;
  if (isProviderLimit(thrown)) return `provider_${thrown.limit}`;
  if (thrown instanceof JobFailure) return thrown.code;
  return 'agent_failed';
}

async function salvage(run: WorkspaceRun, workspace: Workspace, why: string) {
  const salvaged = await workspace.salvage(why);
  if (salvaged.record?.pushed) run.log(`work salvaged to branch ${salvaged.record.branch} (${why})`);
  else if (salvaged.bundle) run.log(`work salvaged to bundle ${salvaged.bundle} (${why}): the salvage push failed`);
  else if (salvaged.complete) run.log(`nothing to salvage (${why}): the workspace did not change`);
  if (!salvaged.complete) {
    // remove() then keeps the workspace, and the next worker start on this machine tries again.
    run.log(`not all of the work could be saved (${why}); its workspace ${workspace.dir} is kept for the next worker start`);
  }
  return salvaged;
}

/**
 * The error to end the run with, after salvaging the workspace, carrying where the work went: an
 * abort stays an abort, an agent's failure becomes a JobFailure with its code.
 */
async function salvaged(run: WorkspaceRun, workspace: Workspace, thrown: unknown): Promise<unknown> {
  // A refused push salvaged already, and says where in its details.
  if (thrown instanceof WorkspaceError && thrown.details.salvage !== undefined) return thrown;
  let record: WorkspaceRecord | null = null;
  let bundle: string | null = null;
  try {
    ({ record, bundle } = await salvage(run, workspace, salvageReason(run, thrown)));
  } catch (salvageError) {
    run.log(`could not salvage the workspace: ${coerceError(salvageError).message}`);
  }
  const where = { salvage: record as JsonValue, ...(bundle && { bundle }) };
  // The provider refused, not the agent: the worker gives the job back to its queue, so the error
  // must reach it as it is (the salvaged work waits on the job's branch for the next run).
  if (isProviderLimit(thrown)) return thrown;
  // An abort stays an abort (the worker knows its cause), now saying where the work went.
  if (thrown instanceof AgentAbortedError) return new AgentAbortedError(thrown.reason, { ...thrown.details, ...where });
  if (run.signal.aborted) return new AgentAbortedError(String(run.signal.reason), where);
  if (thrown instanceof JobFailure) return new JobFailure(thrown.code, thrown.message, { ...thrown.details, ...where });
  if (thrown instanceof AgentFailedError) return new JobFailure('agent_failed', thrown.message, { ...thrown.details, ...where });
  return new JobFailure('agent_failed', coerceError(thrown).message, where);
}

function describe(record: WorkspaceRecord): string {
  if (!record.pushed) return `nothing to push: the workspace is as it started (${record.base_sha})`;
  return `pushed ${record.branch}: ${record.changed_files.length} file(s) changed, +${record.insertions} -${record.deletions}, ${record.base_sha}..${record.head_sha}`;
}
