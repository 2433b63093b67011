/**
 * A deterministic stand-in for an agent, for local trials and tests: the same prompt always gives
 * the same output, costs nothing, and everything it returns says it is a dry run.
 *
 * It can be scripted through markers in the prompt (so through the data a test creates: an
 * idea's text, a task's implementation plan, a payload's instructions):
 * - `[dry-run:fail]` makes the agent fail;
 * - `[dry-run:invalid-plan]` makes a plan that does not parse;
 * - `[dry-run:sleep=MS]` makes the agent take MS milliseconds (abortable);
 * - `[dry-run:gate=NAME]` makes the agent wait (abortable) until a file named NAME exists in
 *   `dryRunGateDir()`, so a test decides when a job finishes: it creates the file to let the job
 *   go. A file, not memory, because workers are often other processes on the same machine;
 *   NAME is letters, digits, `_` and `-`; a gate once opened stays open;
 * - `[dry-run:defer=TEXT]` adds TEXT to the deferred items it reports;
 * - `[dry-run:write=PATH]` writes a file at PATH (relative: letters, digits, `_`, `-`, `.`, `/`)
 *   in the job's workspace, when it has one, so a trial shows a branch pushed with a change.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { JsonValue } from '../db/column-types.js';
import { AgentAbortedError, AgentFailedError, type AgentOutput, type AgentRequest, type Executor, abortReason } from './executor.js';

export interface DryRunOptions {
  /** Added to every run, to make jobs take time without scripting each one. */
  delayMs?: number;
}

export const DRY_RUN_AGENT = 'dry-run';

/** How often a gated run looks for its gate file: short enough for tests, cheap for one stat. */
const GATE_POLL_MS = 20;

/** The directory that holds the files opening `[dry-run:gate=NAME]` markers. */
export function dryRunGateDir(): string {
  return path.join(os.tmpdir(), 'jobfleet-dry-run-gates');
}

export function createDryRunExecutor(options: DryRunOptions = {}): Executor {
  return {
    name: DRY_RUN_AGENT,
    provider: DRY_RUN_AGENT,
    async run(request) {
      const text = `${request.prompt.system}\n${request.prompt.user}`;
      for (const [, gate] of text.matchAll(/\[dry-run:gate=([\w-]+)\]/g)) await waitForGate(gate!, request.signal);
      const sleep = Number(/\[dry-run:sleep=(\d+)\]/.exec(text)?.[1] ?? 0) + (options.delayMs ?? 0);
      if (sleep > 0) await wait(sleep, request.signal);
      if (request.signal.aborted) throw new AgentAbortedError(abortReason(request.signal));
      if (request.workspace) writeFiles(request.workspace.dir, text, request.jobId);
      if (text.includes('[dry-run:fail]')) {
        throw new AgentFailedError('[dry run] the agent failed as its prompt asked ([dry-run:fail])', { dryRun: true });
      }
      return answer(request, text);
    },
  };
}

/** The `[dry-run:write=PATH]` files, inside the workspace only (never its .git, never above it). */
function writeFiles(workspace: string, text: string, jobId: string): void {
  for (const [, file] of text.matchAll(/\[dry-run:write=([\w./-]+)\]/g)) {
    const root = realpathSync(workspace);
    const target = path.resolve(root, file!);
    // Where the path really leads, symlinks in the repository followed: never out of the workspace.
    if (!isInside(root, target) || !isInside(root, path.join(realpathSync(existingAncestor(target)), 'x'))) continue;
    if (lstatSync(target, { throwIfNoEntry: false })?.isSymbolicLink()) continue;
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, `[dry run] written by job ${jobId}\n`);
  }
}

function existingAncestor(target: string): string {
  let dir = path.dirname(target);
  while (!existsSync(dir)) dir = path.dirname(dir);
  return dir;
}

function isInside(root: string, target: string): boolean {
  const inside = path.relative(root, target);
  return inside !== '' && !inside.startsWith('..') && !path.isAbsolute(inside) && inside.split(path.sep)[0] !== '.git';
}

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new AgentAbortedError(abortReason(signal)));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AgentAbortedError(abortReason(signal)));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function waitForGate(name: string, signal: AbortSignal): Promise<void> {
  const file = path.join(dryRunGateDir(), name);
  while (!existsSync(file)) await wait(GATE_POLL_MS, signal);
}

/** The first line of the prompt that starts with `label:`, trimmed. */
function field(text: string, label: string): string {
  return new RegExp(`^${label}:\\s*(.+)$`, 'm').exec(text)?.[1]?.trim() ?? 'untitled';
}

function answer(request: AgentRequest, text: string): AgentOutput {
  const digest = createHash('sha256').update(text).digest('hex').slice(0, 12);
  const deferred = [...text.matchAll(/\[dry-run:defer=([^\]]+)\]/g)].map((match) => match[1]!);
  const output = (body: string, data: JsonValue = null): AgentOutput => ({
    text: body,
    data,
    usage: { inputTokens: Math.ceil(text.length / 4), outputTokens: Math.ceil(body.length / 4), costUsd: 0 },
    agent: DRY_RUN_AGENT,
  });

  switch (request.kind) {
    case 'IDEA_GRILL':
      return output(
        [
          `# [dry run] Grill of "${field(text, 'Idea')}"`,
          '',
          '1. [dry run] Who is this for, and what do they do today instead?',
          '2. [dry run] What is the smallest version that would be worth shipping?',
          '3. [dry run] How will we know it worked?',
          '',
          `(dry run ${digest}: no agent was called)`,
        ].join('\n'),
      );
    case 'IDEA_MAKE_PLAN':
      return output(text.includes('[dry-run:invalid-plan]') ? invalidPlan(digest) : validPlan(field(text, 'Idea'), digest));
    case 'PLAN_CHAT':
      return output(`[dry run] Noted. A real agent would answer the last message here. (dry run ${digest})`);
    default:
      return output(`[dry run] Implemented "${field(text, 'Task')}" without touching any code. (dry run ${digest})`, {
        dry_run: true,
        summary: `[dry run] implemented ${field(text, 'Task')}`,
        verified: true,
        deferred,
      });
  }
}

function validPlan(title: string, digest: string): string {
  // Keep the PBI title within the plan format's 300 characters, whatever the idea's title.
  const quoted = JSON.stringify(`[dry run] ${title.slice(0, 200)}`);
  return [
    '---',
    'pbis:',
    `  - title: ${quoted}`,
    '    description: "[dry run] planned without an agent"',
    '    stories:',
    '      - title: "[dry run] First slice"',
    '        tasks:',
    '          - key: groundwork',
    '            title: "[dry run] Lay the groundwork"',
    '            implementation_plan: "[dry run] Set up what the feature needs."',
    '          - key: feature',
    '            title: "[dry run] Build the feature"',
    '            implementation_plan: "[dry run] Build it on the groundwork."',
    '            depends_on: [groundwork]',
    '---',
    `(dry run ${digest}: no agent was called)`,
  ].join('\n');
}

function invalidPlan(digest: string): string {
  return ['---', 'pbis:', '  - title: "[dry run] A PBI without stories"', '---', `(dry run ${digest}: an invalid plan, as asked)`].join(
    '\n',
  );
}
