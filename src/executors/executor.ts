/**
 * An agent executor runs one prompt to completion. Executors know nothing of queues, claims or
 * the database: the worker hands them a prompt, an abort signal and a log sink, and stores what
 * they return.
 */
import type { UsageMeter } from './usage-meter.js';
import type { JsonValue } from '../db/column-types.js';

export interface Prompt {
  /** Instructions that frame the agent's role for this kind of job. */
  system: string;
  /** The work itself. */
  user: string;
}

export interface AgentUsage {
  inputTokens: number;
  outputTokens: number;
  /** In US dollars; 0 when unknown or free (dry run). */
  costUsd: number;
}

export interface AgentOutput {
  /** The agent's answer as text (markdown for grills and plans). */
  text: string;
  /** Structured output when the agent produced JSON, else null. */
  data: JsonValue;
  usage: AgentUsage;
  /** Which executor and model produced it, e.g. `anthropic:claude-sonnet-4-5`, `dry-run`. */
  agent: string;
}

/** Where an implementation agent works: a git worktree of its product's repository (SPEC "Workspaces"). */
export interface AgentWorkspace {
  /** The worktree: the agent's working directory. */
  dir: string;
  /** The branch jobfleet pushes the work to. */
  branch: string;
  /** The commit the workspace started from. */
  baseSha: string;
}

/** How an agent talks back to the fleet while its job runs (SPEC "Agents talk back"). */
export interface AgentChannel {
  /** The fleet's MCP endpoint, e.g. http://127.0.0.1:3000/mcp. */
  url: string;
  /** The job's own token (scope agent), valid while the job holds its claim. */
  token: string;
}

export interface AgentRequest {
  jobId: string;
  kind: string;
  prompt: Prompt;
  /** The job's workspace, when its product names a repository; else the agent has none. */
  workspace?: AgentWorkspace;
  /** The job's MCP endpoint and token, when the worker knows where the API is (API_URL). */
  channel?: AgentChannel | undefined;
  /** Aborted on cancel, timeout or shutdown; the executor must stop promptly and reject. */
  signal: AbortSignal;
  /** Progress lines worth keeping (stderr of a command, retries of an API call). */
  log: (line: string) => void;
  /**
   * The job's usage as it streams in, against its budget (src/budgets/usage-meter.ts): the
   * executor reports each piece of usage as it arrives; reaching a ceiling aborts `signal` with
   * the reason `budget_exceeded`. Absent: nothing to count against.
   */
  meter?: UsageMeter | undefined;
}

export interface Executor {
  readonly name: string;
  /**
   * Whose limits the executor runs under: `anthropic`, or the provider a command agent names
   * (AGENT_PROVIDER); a ProviderLimitError (src/providers/provider-limit.ts) names the same.
   */
  readonly provider: string;
  run(request: AgentRequest): Promise<AgentOutput>;
}

/**
 * Thrown when an executor stops because its signal was aborted. `details.partial_output` holds
 * the text the agent had produced by then (a budget_exceeded job keeps it).
 */
export class AgentAbortedError extends Error {
  override readonly name = 'AgentAbortedError';
  constructor(
    readonly reason: string,
    /** What the job's error should say besides (where a workspace's work was salvaged). */
    readonly details: Record<string, JsonValue> = {},
  ) {
    super(`agent aborted: ${reason}`);
  }
}

/** Thrown when the agent ran but failed (non-zero exit, API error after retries, bad output). */
export class AgentFailedError extends Error {
  override readonly name = 'AgentFailedError';
  constructor(
    message: string,
    readonly details: Record<string, JsonValue> = {},
  ) {
    super(message);
  }
}

/** The reason an AbortSignal was aborted with, as text. */
export function abortReason(signal: AbortSignal): string {
  const reason = signal.reason as unknown;
  if (typeof reason === 'string') return reason;
  if (reason instanceof Error) return reason.message;
  return 'aborted';
}

/** JSON when the text is JSON (an object or array), else null. */
export function parseJsonOutput(text: string): JsonValue {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return null;
  try {
    return JSON.parse(trimmed) as JsonValue;
  } catch {
    return null;
  }
}
