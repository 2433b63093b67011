import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DRY_RUN_AGENT, createDryRunExecutor } from '../../src/executors/dry-run.executor.js';
import { AgentAbortedError, AgentFailedError, type AgentOutput, type AgentRequest } from '../../src/executors/executor.js';
import { parsePlanMd } from '../../src/backlog/plan-format.js';
import { JOB_KINDS } from '../../src/job-kinds.js';
import { createDryRunGate, removeDryRunGates } from '../helpers/dry-run-gate.js';

function request(kind: string, user: string, signal: AbortSignal = new AbortController().signal): AgentRequest {
  return { jobId: 'job-1', kind, prompt: { system: `You do ${kind} jobs.`, user }, signal, log: () => {} };
}

const executor = createDryRunExecutor();

/** Whether a run has settled yet, and how, read without awaiting it. */
function settledState<T>(promise: Promise<T>): { settled: boolean; value?: T; error?: unknown } {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

afterEach(() => {
  vi.useRealTimers();
  removeDryRunGates();
});

describe('the dry-run executor', () => {
  it('gives the same output for the same prompt', async () => {
    for (const kind of JOB_KINDS) {
      const prompt = `Idea: Offline mode\nTask: Cache responses\n[dry-run:defer=docs]`;
      expect(await executor.run(request(kind, prompt))).toEqual(await executor.run(request(kind, prompt)));
    }
  });

  it('gives different output for different prompts', async () => {
    const one = await executor.run(request('PLAN_CHAT', 'first message'));
    const two = await executor.run(request('PLAN_CHAT', 'second message'));
    expect(one.text).not.toBe(two.text);
  });

  it.each(JOB_KINDS)('says in the text of a %s output that it is a dry run, names itself, and costs nothing', async (kind) => {
    const output = await executor.run(request(kind, 'Idea: Offline mode\nTask: Cache responses'));
    expect(output.text).toContain('[dry run]');
    expect(output.agent).toBe(DRY_RUN_AGENT);
    expect(output.usage.costUsd).toBe(0);
  });

  it('says an invalid plan is a dry run too', async () => {
    const output = await executor.run(request('IDEA_MAKE_PLAN', 'Idea: X\n[dry-run:invalid-plan]'));
    expect(output.text).toContain('[dry run]');
    expect(output.usage.costUsd).toBe(0);
  });

  it('writes a plan that parses and names the idea for IDEA_MAKE_PLAN', async () => {
    const output = await executor.run(request('IDEA_MAKE_PLAN', 'Idea: Dark mode for the dashboard\n\nUsers asked for it.'));
    const parsed = parsePlanMd(output.text);
    if (!parsed.ok) throw new Error(`the dry-run plan does not parse: ${parsed.errors.join('; ')}`);
    expect(parsed.plan.pbis[0]!.title).toContain('Dark mode for the dashboard');
    expect(parsed.plan.pbis[0]!.title).toContain('[dry run]');
    expect(parsed.plan.pbis.flatMap((pbi) => pbi.stories.flatMap((story) => story.tasks)).length).toBeGreaterThan(0);
  });

  it('writes a plan that parses even when the idea title is full of YAML syntax', async () => {
    const title = `"Quoted": colons # hashes, [brackets] {braces} & 'apostrophes' \\ back\\slash`;
    const parsed = parsePlanMd((await executor.run(request('IDEA_MAKE_PLAN', `Idea: ${title}\n\nDetails.`))).text);
    if (!parsed.ok) throw new Error(`the dry-run plan does not parse: ${parsed.errors.join('; ')}`);
    expect(parsed.plan.pbis[0]!.title).toBe(`[dry run] ${title}`);
  });

  it('writes a plan that does not parse when the prompt asks for an invalid plan', async () => {
    const output = await executor.run(request('IDEA_MAKE_PLAN', 'Idea: Dark mode\n[dry-run:invalid-plan]'));
    expect(parsePlanMd(output.text).ok).toBe(false);
  });

  it('fails with AgentFailedError when the prompt asks it to fail', async () => {
    const run = executor.run(request('TASK_IMPLEMENTATION', 'Task: Break\n[dry-run:fail]'));
    await expect(run).rejects.toBeInstanceOf(AgentFailedError);
    await expect(run).rejects.toThrow('[dry run]');
  });

  it('reads markers from the system prompt as well as the user prompt', async () => {
    const run = executor.run({ ...request('PLAN_CHAT', 'hello'), prompt: { system: 'rules [dry-run:fail]', user: 'hello' } });
    await expect(run).rejects.toBeInstanceOf(AgentFailedError);
  });

  it('takes at least the time a sleep marker asks for', async () => {
    vi.useFakeTimers();
    const run = settledState(executor.run(request('PLAN_CHAT', 'hi [dry-run:sleep=200]')));
    await vi.advanceTimersByTimeAsync(199);
    expect(run.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(run.settled).toBe(true);
  });

  it('adds the delay option to every run', async () => {
    vi.useFakeTimers();
    const slow = createDryRunExecutor({ delayMs: 150 });
    const run = settledState(slow.run(request('PLAN_CHAT', 'hi')));
    await vi.advanceTimersByTimeAsync(149);
    expect(run.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(run.settled).toBe(true);
  });

  it('stops a sleep promptly with AgentAbortedError when its signal is aborted', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const run = settledState(executor.run(request('TASK_IMPLEMENTATION', 'Task: Slow\n[dry-run:sleep=10000]', controller.signal)));
    await vi.advanceTimersByTimeAsync(20);
    controller.abort('cancelled by a user');
    // No more clock passes: the abort, not the timer, ends the run.
    await vi.advanceTimersByTimeAsync(0);
    expect(run.settled).toBe(true);
    expect(run.error).toBeInstanceOf(AgentAbortedError);
    expect((run.error as AgentAbortedError).reason).toBe('cancelled by a user');
  });

  it('holds a run at a gate marker until its gate opens, then answers as usual', async () => {
    vi.useFakeTimers();
    const gate = createDryRunGate();
    const gated = settledState(executor.run(request('PLAN_CHAT', `hi ${gate.marker}`)));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(gated.settled).toBe(false);
    gate.open();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(gated.settled).toBe(true);
    expect(gated.error).toBeUndefined();
    expect((gated.value as AgentOutput).text).toContain('[dry run]');
  });

  it('lets a run through a gate that is already open', async () => {
    const gate = createDryRunGate();
    gate.open();
    await expect(executor.run(request('PLAN_CHAT', `hi ${gate.marker}`))).resolves.toMatchObject({ agent: DRY_RUN_AGENT });
  });

  it('stops a run waiting at a gate with AgentAbortedError when its signal is aborted', async () => {
    const controller = new AbortController();
    const run = executor.run(request('TASK_IMPLEMENTATION', `Task: Held\n${createDryRunGate().marker}`, controller.signal));
    controller.abort('cancelled by a user');
    await expect(run).rejects.toBeInstanceOf(AgentAbortedError);
    await expect(run).rejects.toMatchObject({ reason: 'cancelled by a user' });
  });

  it('rejects with AgentAbortedError when its signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('shutting down'));
    const run = executor.run(request('IDEA_GRILL', 'Idea: X', controller.signal));
    await expect(run).rejects.toBeInstanceOf(AgentAbortedError);
    await expect(run).rejects.toMatchObject({ reason: 'shutting down' });
  });

  it.each(['TASK_IMPLEMENTATION', 'SPRINT_IMPLEMENTATION'])('reports deferred items from the prompt in a %s result', async (kind) => {
    const output = await executor.run(request(kind, 'Task: Add search\n[dry-run:defer=write the docs]\nthen [dry-run:defer=add metrics]'));
    expect(output.data).toMatchObject({ dry_run: true, deferred: ['write the docs', 'add metrics'] });
    expect(output.text).toContain('Add search');
  });

  it('reports no deferred items when the prompt has none', async () => {
    const output = await executor.run(request('TASK_IMPLEMENTATION', 'Task: Add search'));
    expect(output.data).toMatchObject({ deferred: [] });
  });

  describe('[dry-run:write=PATH]', () => {
    const dirs: string[] = [];
    afterEach(() => {
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    });
    const temp = () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'jobfleet-dry-write-'));
      dirs.push(dir);
      return dir;
    };
    const inWorkspace = (dir: string, user: string): AgentRequest => ({
      ...request('TASK_IMPLEMENTATION', user),
      workspace: { dir, branch: 'jobfleet/task-1', baseSha: 'a'.repeat(40) },
    });

    it('writes the file in the workspace, and nothing without one', async () => {
      const workspace = temp();
      await executor.run(inWorkspace(workspace, 'Do it. [dry-run:write=docs/NOTES.md]'));
      expect(readFileSync(path.join(workspace, 'docs', 'NOTES.md'), 'utf8')).toContain('[dry run] written by job job-1');
      await executor.run(request('TASK_IMPLEMENTATION', 'Do it. [dry-run:write=ELSEWHERE.md]'));
      expect(existsSync(path.join(process.cwd(), 'ELSEWHERE.md'))).toBe(false);
    });

    it('never writes outside the workspace: not above it, not into .git, not through a symlink', async () => {
      const workspace = temp();
      const outside = temp();
      mkdirSync(path.join(workspace, '.git'));
      symlinkSync(outside, path.join(workspace, 'out'));
      symlinkSync(path.join(outside, 'target.md'), path.join(workspace, 'link.md'));
      await executor.run(
        inWorkspace(
          workspace,
          '[dry-run:write=../escape.md] [dry-run:write=.git/config] [dry-run:write=out/a/b.md] [dry-run:write=link.md]',
        ),
      );
      expect(existsSync(path.join(path.dirname(workspace), 'escape.md'))).toBe(false);
      expect(readdirSync(path.join(workspace, '.git'))).toEqual([]);
      expect(readdirSync(outside)).toEqual([]);
    });
  });
});
