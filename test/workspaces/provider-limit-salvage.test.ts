/**
 * An implementation agent stopped by its provider's limit: the work it wrote is salvaged as on
 * any other stop, and the ProviderLimitError reaches the worker unchanged (it gives the job back
 * to its queue rather than failing it); a budget stop ends the run as an abort does.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { ClaudeJob } from '../../src/db/tables/claude-job.table.js';
import { ProviderLimitError } from '../../src/errors/provider-limit.js';
import { AgentAbortedError } from '../../src/executors/executor.js';
import { inWorkspace, type WorkspaceRun } from '../../src/jobs/workspace-run.js';
import { openWorkspaces } from '../../src/workspaces/index.js';
import { makeBareRepo, removeTempDirs, showFiles, writeFiles } from '../helpers/git-repos.js';
import { workspaceOptions } from '../helpers/workspace-options.js';

afterAll(removeTempDirs);

async function runStoppedBy(jobId: string, stop: (controller: AbortController) => never) {
  const repo = makeBareRepo();
  const workspaces = await openWorkspaces(workspaceOptions());
  const controller = new AbortController();
  const lines: string[] = [];
  const run: WorkspaceRun = {
    job: { id: jobId, claim_epoch: 1 } as ClaudeJob,
    repository: { url: repo.dir, defaultBranch: 'main', checkCommand: null },
    branch: `jobfleet/task-${jobId}`,
    settings: { workspaces, verifyMaxAttempts: 1, verifyTimeoutMs: 10_000 },
    signal: controller.signal,
    log: (line) => lines.push(line),
  };
  const thrown = await inWorkspace(run, async (workspace) => {
    writeFiles(workspace.dir, { 'half-done.txt': 'written before the stop\n' });
    return stop(controller);
  }).catch((error: unknown) => error);
  await workspaces.close();
  return { thrown, repo, lines };
}

describe('a workspace run stopped by a provider limit or a budget', () => {
  it('salvages the work and lets the ProviderLimitError through unchanged', async () => {
    const limit = new ProviderLimitError('anthropic', 'rate_limit', 30_000, 'anthropic 429 rate_limit_error');

    const { thrown, repo, lines } = await runStoppedBy('job-pl', () => {
      throw limit;
    });

    expect(thrown).toBe(limit);
    expect(showFiles(repo.dir, 'jobfleet/salvage/job-pl-1')['half-done.txt']).toBe('written before the stop\n');
    expect(lines).toContain('work salvaged to branch jobfleet/salvage/job-pl-1 (provider_rate_limit)');
  });

  it('ends a budget stop as an abort, with the partial output and where the work went', async () => {
    const { thrown } = await runStoppedBy('job-be', (controller) => {
      controller.abort('budget_exceeded');
      throw new AgentAbortedError('budget_exceeded', { partial_output: 'half an answer' });
    });

    expect(thrown).toBeInstanceOf(AgentAbortedError);
    expect((thrown as AgentAbortedError).reason).toBe('budget_exceeded');
    expect((thrown as AgentAbortedError).details).toMatchObject({
      partial_output: 'half an answer',
      salvage: { branch: 'jobfleet/salvage/job-be-1', pushed: true },
    });
  });
});
