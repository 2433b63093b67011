/**
 * What a worker does with each BullMQ delivery:
 * 1. claim the row (batched with the deliveries of its neighbours); a row that is not QUEUED
 *    means a second delivery: acknowledge it and do nothing (a row not visible yet fails the
 *    delivery, which BullMQ makes again after a backoff: see claimDeliveries);
 * 2. run the agent with an abort signal (cancel, lost lease, timeout, shutdown);
 * 3. finish the row under its lease (batched too), retrying while Postgres is unreachable;
 *    a refused finish means the job is no longer ours and nothing more is written.
 * The delivery is acknowledged only after the outcome is committed, and it ends in BullMQ as the
 * job ended in Postgres: a job that failed (or was cancelled, or lost its lease to the sweeper)
 * fails its delivery with the reason, so Bull Board shows it failed, never completed. It fails as
 * unrecoverable: BullMQ must not run it again, since jobfleet retries a job as a new job itself.
 */
import { type Job, UnrecoverableError } from 'bullmq';
import type { JsonValue } from '../db/column-types.js';
import type { Db } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { type AppError, coerceError, isAppError } from '../errors/app-error.js';
import { isUnrunnable } from '../errors/unrunnable.js';
import { JobFailure } from '../errors/job-failure.js';
import type { JobTokens } from '../auth/job-token.js';
import { AgentAbortedError, AgentFailedError, type Executor } from '../executors/executor.js';
import { leaseOf } from '../jobs/claim-jobs.js';
import type { Completion } from '../jobs/finish-jobs.js';
import type { ClaimedJob } from '../jobs/job-flushes.js';
import { handlerOf, type JobError, type RunOutput, type Verdict, type WorkspaceSettings } from '../kinds/index.js';
import type { Logger } from '../logger.js';
import type { QueuedJobData } from '../queues/job-queues.js';
import type { GroupCommit } from '../util/group-commit.js';
import type { AbortCause, RunningJobs } from './running-jobs.js';
import type { WorkerIdentity } from './worker-registry.js';

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
  /** Workspaces for implementation jobs (null on a worker that serves no implementation kind). */
  workspaces: WorkspaceSettings | null;
  /** Where agents reach the fleet's MCP server, and the job tokens they use (null without API_URL). */
  channel: { url: string; tokens: JobTokens } | null;
}

/** What a delivery answers BullMQ when it completes: the job is done, or this delivery was not its run. */
export type ProcessResult = 'DONE' | `dropped: ${string}`;

/** How a delivery's run ended, as recorded in Postgres (or by whoever took the job from it). */
type RunOutcome = { status: 'DONE' } | { status: 'FAILED'; reason: string } | { status: 'dropped'; why: string };

export function createJobProcessor(deps: ProcessorDeps) {
  return async function processJob(delivery: Job<QueuedJobData>): Promise<ProcessResult> {
    const outcome = await runDelivery(deps, delivery);
    if (outcome.status === 'DONE') return 'DONE';
    if (outcome.status === 'dropped') return `dropped: ${outcome.why}`;
    // Thrown only once the failure is recorded: BullMQ fails the delivery and does not retry it.
    throw new UnrecoverableError(outcome.reason);
  };
}

function reasonOf(error: JobError): string {
  return `${error.code}: ${error.message}`;
}

async function runDelivery(deps: ProcessorDeps, delivery: Job<QueuedJobData>): Promise<RunOutcome> {
  const { logger } = deps;
  const claimed = await claim(deps, delivery.data.id);
  if (!claimed) return { status: 'dropped', why: 'not queued' };
  const { job, prompt } = claimed;
  const lease = leaseOf(job);
  const run = deps.running.add(lease);
  const timer = setTimeout(() => run.controller.abort('timeout' satisfies AbortCause), deps.timeoutMs);
  const log = (line: string) => {
    void delivery.log(line).catch(() => undefined);
    logger.debug({ job: job.id }, line);
  };

  // The job's own token, valid while this claim holds (src/auth/job-token.ts).
  const channel = deps.channel
    ? { url: deps.channel.url, token: deps.channel.tokens.sign({ jobId: job.id, epoch: job.claim_epoch }) }
    : undefined;

  try {
    let output: RunOutput | null = null;
    let verdict: Verdict;
    try {
      const handler = handlerOf(job.kind);
      const signal = run.controller.signal;
      output = handler.execute
        ? await handler.execute({
            db: deps.db,
            job,
            prompt,
            executor: deps.executor,
            signal,
            log,
            actorTokenId: deps.identity.tokenId,
            queueJobs: deps.queueJobs,
            workspaces: deps.workspaces,
            channel,
          })
        : await deps.executor.run({ jobId: job.id, kind: job.kind, prompt, signal, log, channel });
      verdict = handler.judge(job, output);
    } catch (thrown) {
      const cause = run.controller.signal.aborted ? (run.controller.signal.reason as AbortCause) : null;
      // Someone else already moved the row: a user cancelled it, or the sweeper failed it.
      if (cause === 'cancelled') return { status: 'FAILED', reason: 'cancelled: the job was cancelled while its agent ran' };
      if (cause === 'lease_lost') return { status: 'FAILED', reason: 'lease_lost: the job was taken from this worker (its lease lapsed)' };
      if (cause === 'shutdown') {
        await deps.shutdowns.submit(job);
        return { status: 'FAILED', reason: 'worker_shutdown: the worker shut down before the agent finished' };
      }
      verdict = failureOf(coerceError(thrown), cause, deps.timeoutMs);
    } finally {
      clearTimeout(timer);
    }
    return await finish(deps, { lease, kind: job.kind, verdict, output });
  } finally {
    deps.running.delete(job.id);
  }
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
    // A workspace's salvage (src/jobs/workspace-run.ts) says where the work so far went.
    const details = error instanceof AgentAbortedError && Object.keys(error.details).length > 0 ? { details: error.details } : {};
    return { status: 'FAILED', error: { code: 'timeout', message: `the agent did not finish within ${timeoutMs} ms`, ...details } };
  }
  // A failure with a code of its own: a repository that cannot be reached, a refused push, ...
  if (error instanceof JobFailure) {
    return { status: 'FAILED', error: { code: error.code, message: error.message, details: error.details as JsonValue } };
  }
  if (error instanceof AgentFailedError) {
    return { status: 'FAILED', error: { code: 'agent_failed', message: error.message, details: error.details } };
  }
  return { status: 'FAILED', error: { code: 'agent_failed', message: error.message } };
}

/** Commits the outcome, waiting out a Postgres outage; a refusal ends it quietly. */
async function finish(deps: ProcessorDeps, completion: Completion): Promise<RunOutcome> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await deps.completions.submit(completion);
      const { verdict } = completion;
      return verdict.status === 'DONE' ? { status: 'DONE' } : { status: 'FAILED', reason: reasonOf(verdict.error) };
    } catch (thrown) {
      if (isAppError(thrown)) {
        deps.logger.info({ job: completion.lease.jobId, code: thrown.code }, `late write refused: ${thrown.message}`);
        return { status: 'dropped', why: thrown.code };
      }
      if (deps.givenUp()) throw thrown;
      const delay = Math.min(500 * 2 ** attempt, 10_000);
      deps.logger.warn(
        { job: completion.lease.jobId, err: coerceError(thrown).message, retryInMs: delay },
        'could not record the outcome; retrying',
      );
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
