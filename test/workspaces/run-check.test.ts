/** The verify gate's check: a shell command line in the workspace, its verdict and its output. */
import { afterAll, describe, expect, it } from 'vitest';
import { CheckAbortedError, runCheck } from '../../src/workspaces/index.js';
import { removeTempDirs, tempDir } from '../helpers/git-repos.js';
import { isAlive } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';

afterAll(removeTempDirs);

function check(command: string, overrides: { timeoutMs?: number; signal?: AbortSignal; env?: NodeJS.ProcessEnv } = {}) {
  const lines: string[] = [];
  const cwd = tempDir();
  const outcome = runCheck({ command, cwd, timeoutMs: overrides.timeoutMs ?? 30_000, log: (line) => lines.push(line), ...overrides });
  return { outcome, lines, cwd };
}

describe('runCheck', () => {
  it('passes on exit 0, in the workspace, with every line of stdout and stderr logged', async () => {
    const { outcome, lines, cwd } = check('pwd; echo "to stderr" >&2; printf "no newline"');
    expect(await outcome).toEqual({
      command: 'pwd; echo "to stderr" >&2; printf "no newline"',
      passed: true,
      exit_code: 0,
      timed_out: false,
      output_tail: expect.stringContaining('no newline'),
    });
    expect(lines).toEqual(expect.arrayContaining([cwd, 'to stderr', 'no newline']));
    expect(lines).toHaveLength(3);
  });

  it('fails with the exit code and the output tail (the last 4000 characters)', async () => {
    const { outcome, lines } = check('for i in $(seq 1 2000); do echo "line $i"; done; echo "3 tests failed" >&2; exit 3');
    const result = await outcome;
    expect(result).toMatchObject({ passed: false, exit_code: 3, timed_out: false });
    expect(result.output_tail).toHaveLength(4000);
    expect(result.output_tail.endsWith('line 2000\n3 tests failed\n')).toBe(true);
    expect(lines).toHaveLength(2001);
    expect(lines.at(-1)).toBe('3 tests failed');
  });

  it('a check past its time limit is killed with its whole process group, and fails as timed out', async () => {
    const { outcome, lines } = check('sleep 300 & echo "grandchild $!"; wait', { timeoutMs: 1500 });
    const grandchild = Number(
      (await waitFor('the grandchild pid', () => lines.find((line) => line.startsWith('grandchild ')))).split(' ')[1],
    );
    const result = await outcome;
    expect(result).toMatchObject({ passed: false, exit_code: null, timed_out: true });
    expect(result.output_tail).toContain(`grandchild ${grandchild}`);
    expect(isAlive(grandchild)).toBe(false);
    expect(lines.at(-1)).toContain('ran longer than 1500 ms');
  });

  it('the caller aborting stops the group and rejects: an aborted check has no verdict', async () => {
    const controller = new AbortController();
    const { outcome, lines } = check('sleep 300 & echo "grandchild $!"; wait', { signal: controller.signal });
    const grandchild = Number(
      (await waitFor('the grandchild pid', () => lines.find((line) => line.startsWith('grandchild ')))).split(' ')[1],
    );
    controller.abort(new Error('job cancelled'));
    await expect(outcome).rejects.toThrow(CheckAbortedError);
    await expect(outcome).rejects.toThrow('job cancelled');
    expect(isAlive(grandchild)).toBe(false);
  });

  it('a command that does not exist fails with the shell code 127', async () => {
    const { outcome } = check('definitely-not-a-command-jobfleet');
    expect(await outcome).toMatchObject({ passed: false, exit_code: 127, output_tail: expect.stringContaining('not found') });
  });

  it('runs with the given environment', async () => {
    const { outcome, lines } = check('echo "$CHECK_FLAVOUR"', { env: { PATH: process.env.PATH, CHECK_FLAVOUR: 'vanilla' } });
    expect((await outcome).passed).toBe(true);
    expect(lines).toEqual(['vanilla']);
  });
});
