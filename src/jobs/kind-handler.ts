/**
 * What each job kind adds to the pipeline: the subject transitions a new job implies, the prompt,
 * the verdict on the agent's output, the results it writes and what its start or failure does to
 * its subject. The handlers live in src/kinds/; the worker, the enqueue and finish services and
 * the door's job cascade call them and never switch on the kind themselves.
 */
import type { UsageMeter } from '../executors/usage-meter.js';
import type { JsonValue } from '../db/column-types.js';
import type { Db, Executor as DbExecutor, Trx } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import type { AgentChannel, AgentOutput, Executor, Prompt } from '../executors/executor.js';
import type { JobKind } from '../queues/kinds.js';
import type { AppliedTransition, Door } from '../transitions/index.js';
import type { CheckOutcome, Workspaces, WorkspaceRecord } from '../workspaces/index.js';

export interface JobError {
  /** agent_failed, agent_aborted, plan_invalid, worker_lost, retries_exhausted, shutdown, ... */
  code: string;
  message: string;
  details?: JsonValue;
}

export type Verdict = { status: 'DONE'; result: JsonValue } | { status: 'FAILED'; error: JobError; result?: JsonValue };

/** A product's check, run in the workspace after the agent, with the attempt it was (SPEC "Workspaces"). */
export interface VerifyRecord extends CheckOutcome {
  attempt: number;
  max_attempts: number;
}

/**
 * What a job's run returns: the agent's output and, for an implementation job in its product's
 * repository, what became of the workspace (pushed, or salvaged when the agent said it failed)
 * and the verdict of the product's check.
 */
export interface RunOutput extends AgentOutput {
  workspace?: WorkspaceRecord;
  verify?: VerifyRecord;
  salvage?: WorkspaceRecord | null;
}

export interface FinishedJob {
  /** The job row as it is after its transition to DONE. */
  job: ClaudeJob;
  output: RunOutput;
}

export interface HandlerContext {
  /** The token of the caller (enqueue) or of the worker (results). */
  actorTokenId: string | null;
}

export interface ResultContext extends HandlerContext {
  /** Jobs a handler enqueued in this transaction; they are added to their queues after commit. */
  enqueued: ClaudeJob[];
}

/** What a worker that runs implementation jobs has for them (null on workers that run none). */
export interface WorkspaceSettings {
  workspaces: Workspaces;
  verifyMaxAttempts: number;
  verifyTimeoutMs: number;
}

export interface ExecuteContext {
  db: Db;
  job: ClaudeJob;
  prompt: Prompt;
  executor: Executor;
  signal: AbortSignal;
  log: (line: string) => void;
  actorTokenId: string;
  /** Adds committed QUEUED jobs to their queues: call it after their transaction, never inside it. */
  queueJobs(jobs: readonly ClaudeJob[]): Promise<void>;
  workspaces: WorkspaceSettings | null;
  /** The job's MCP endpoint and token, handed on to every agent run of the job. */
  channel?: AgentChannel | undefined;
  /** The job's usage against its budget, handed on to every agent run of the job. */
  meter?: UsageMeter | undefined;
}

export interface KindHandler<K extends JobKind = JobKind> {
  readonly kind: K;
  /**
   * In the enqueue transaction, after the job rows are inserted: check that the subjects may take
   * a new job and apply the transitions it implies (idea DRAFT -> GRILLING). Throws an AppError
   * to refuse, which rolls the whole enqueue back.
   */
  onEnqueue(trx: Trx, jobs: readonly ClaudeJob[], context: HandlerContext): Promise<void>;
  /** The prompts of a batch of claimed jobs, read with as few queries as the kind allows. */
  buildPrompts(db: DbExecutor, jobs: readonly ClaudeJob[]): Promise<Map<string, Prompt>>;
  /** Runs the job when one executor call is not the whole job (a sprint batch runs its steps). */
  execute?(context: ExecuteContext): Promise<RunOutput>;
  /** Done or failed, from the output alone: pure, outside any transaction. */
  judge(job: ClaudeJob, output: RunOutput): Verdict;
  /** In the completion transaction, for jobs that reached DONE: write the kind's results. */
  applyDone(trx: Trx, finished: readonly FinishedJob[], context: ResultContext): Promise<void>;
  /** In the door's transaction, when a job of the kind starts (RUNNING): move its subject along. */
  onStarted?(trx: Trx, change: AppliedTransition<ClaudeJob>, door: Door): Promise<void>;
  /** In the door's transaction, when a job fails or is cancelled and is not retried as a new job. */
  onFailed?(trx: Trx, change: AppliedTransition<ClaudeJob>, door: Door): Promise<void>;
}

/** The result stored on a DONE job: the agent's answer, its structured part, and who answered. */
export function resultOf(output: RunOutput, extra: Record<string, JsonValue> = {}): JsonValue {
  const { workspace, verify, salvage } = output;
  return {
    text: output.text,
    data: output.data,
    agent: output.agent,
    ...(workspace && { workspace: { ...workspace } }),
    ...(verify && { verify: { ...verify } }),
    ...(salvage && { salvage: { ...salvage } }),
    ...extra,
  };
}

export function ids(jobs: readonly ClaudeJob[], column: 'idea_id' | 'task_id' | 'sprint_run_id'): string[] {
  return [...new Set(jobs.map((job) => job[column]).filter((id): id is string => id !== null))];
}
