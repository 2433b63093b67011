/**
 * What a worker does with each BullMQ delivery:
 * 1. claim the row (batched with the deliveries of its neighbours); a row that is not QUEUED
 *    means a second delivery: acknowledge it and do nothing;
 * 2. run the agent with an abort signal (cancel, lost lease, timeout, shutdown);
 * 3. finish the row under its lease (batched too), retrying while Postgres is unreachable;
 *    a refused finish means the job is no longer ours and nothing more is written.
 * The delivery is acknowledged only after the outcome is committed.
 */
import { type Job, UnrecoverableError } from 'bullmq';
import type { Db } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { type AppError, coerceError, isAppError } from '../errors/app-error.js';
import { isUnrunnable } from '../errors/unrunnable.js';
import { AgentAbortedError, AgentFailedError, type AgentOutput, type Executor, type Prompt } from '../executors/executor.js';
import { leaseOf } from '../jobs/claim-jobs.js';
import type { Completion } from '../jobs/finish-jobs.js';
import { handlerOf, type Verdict } from '../kinds/index.js';
import type { Logger } from '../logger.js';
import type { QueuedJobData } from '../queues/job-queues.js';
import type { GroupCommit } from '../util/group-commit.js';
import type { AbortCause, RunningJobs } from './running-jobs.js';
import type { WorkerIdentity } from './worker-registry.js';

export interface ClaimedJob {
  job: ClaudeJob;
  prompt: Prompt;
}

export interface ProcessorDeps {
  db: Db;
  logger: Logger;
  executor: Executor;
  identity: WorkerIdentity;
  running: RunningJobs;
  claims: GroupCommit<string, ClaimedJob | null>;
  completions: GroupCommit<Completion, void>;
  /** Fails (and per kind retries) jobs whose agent was stopped by shutdown. */
  shutdowns: GroupCommit<ClaudeJob, void>;
  timeoutMs: number;
  /** Adds committed QUEUED jobs to their queues (for kinds that enqueue while they run). */
  queueJobs(jobs: readonly ClaudeJob[]): Promise<void>;
  /** Fails a QUEUED job whose claim was refused for good (src/errors/unrunnable.ts). */
  failUnrunnable(jobId: string, refusal: AppError): Promise<void>;
  /** Becomes true when a shutdown gives up on writes that cannot reach Postgres. */
  givenUp: () => boolean;
}

export type ProcessResult = 'DONE' | 'FAILED' | `dropped: ${string}`;

export function createJobProcessor(deps: ProcessorDeps) {
  const { logger } = deps;

  return async function processJob(delivery: Job<QueuedJobData>): Promise<ProcessResult> {
    const claimed = await claim(deps, delivery.data.id);
    if (!claimed) return 'dropped: not queued';
    const { job, prompt } = claimed;
    const lease = leaseOf(job);
    const run = deps.running.add(lease);
    const timer = setTimeout(() => run.controller.abort('timeout' satisfies AbortCause), deps.timeoutMs);
    const log = (line: string) => {
      void delivery.log(line).catch(() => undefined);
      logger.debug({ job: job.id }, line);
    };

    try {
      let output: AgentOutput | null = null;
      let verdict: Verdict;
      try {
        const handler = handlerOf(job.kind);
        const signal = run.controller.signal;
        output = handler.execute
          ? await handler.execute({ db: deps.db, job, prompt, executor: deps.executor, signal, log, actorTokenId: deps.identity.tokenId, queueJobs: deps.queueJobs })
          : await deps.executor.run({ jobId: job.id, kind: job.kind, prompt, signal, log });
        verdict = handler.judge(job, output);
      } catch (thrown) {
        const cause = run.controller.signal.aborted ? (run.controller.signal.reason as AbortCause) : null;
        // Someone else already moved the row (a user cancelled it, the sweeper failed it).
        if (cause === 'cancelled' || cause === 'lease_lost') return `dropped: ${cause}`;
        if (cause === 'shutdown') {
          await deps.shutdowns.submit(job);
          return 'FAILED';
        }
        verdict = failureOf(coerceError(thrown), cause, deps.timeoutMs);
      } finally {
        clearTimeout(timer);
      }
      return await finish(deps, { lease, kind: job.kind, verdict, output });
    } finally {
      deps.running.delete(job.id);
    }
  };
}

/** A claim refused for a reason no retry changes fails the job once, and BullMQ does not retry it. */
async function claim(deps: ProcessorDeps, jobId: string): Promise<ClaimedJob | null> {
  try {
    return await deps.claims.submit(jobId);
  } catch (thrown) {
    if (!isUnrunnable(thrown)) throw thrown;
    await deps.failUnrunnable(jobId, thrown);
    deps.logger.warn({ job: jobId, code: thrown.code }, `job can never run: ${thrown.message}`);
    throw new UnrecoverableError(`job ${jobId} can never run: ${thrown.message}`);
  }
}

function failureOf(error: Error, cause: AbortCause | null, timeoutMs: number): Verdict {
  if (cause === 'timeout' || (error instanceof AgentAbortedError && error.reason.startsWith('timeout'))) {
    return { status: 'FAILED', error: { code: 'timeout', message: `the agent did not finish within ${timeoutMs} ms` } };
  }
  if (error instanceof AgentFailedError) {
    return { status: 'FAILED', error: { code: 'agent_failed', message: error.message, details: error.details } };
  }
  return { status: 'FAILED', error: { code: 'agent_failed', message: error.message } };
}

/** Commits the outcome, waiting out a Postgres outage; a refusal ends it quietly. */
async function finish(deps: ProcessorDeps, completion: Completion): Promise<ProcessResult> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await deps.completions.submit(completion);
      return completion.verdict.status;
    } catch (thrown) {
      if (isAppError(thrown)) {
        deps.logger.info({ job: completion.lease.jobId, code: thrown.code }, `late write refused: ${thrown.message}`);
        return `dropped: ${thrown.code}`;
      }
      if (deps.givenUp()) throw thrown;
      const delay = Math.min(500 * 2 ** attempt, 10_000);
      deps.logger.warn({ job: completion.lease.jobId, err: coerceError(thrown).message, retryInMs: delay }, 'could not record the outcome; retrying');
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

