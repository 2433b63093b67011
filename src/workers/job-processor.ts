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
import { DelayedError, type Job, RateLimitError, UnrecoverableError } from 'bullmq';
import { type BudgetDefaults, type BudgetLimits, budgetLimitsOf, type JobBudget } from '../job-budget.js';
import { isSpent, type OwnerDay, remainingOf } from '../budgets/owner-budgets.js';
import { type BudgetExceeded, createUsageMeter, type UsageMeter } from '../executors/usage-meter.js';
import type { JsonValue } from '../db/column-types.js';
import type { Db } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { type AppError, coerceError, isAppError } from '../errors/app-error.js';
import { isUnrunnable } from '../errors/unrunnable.js';
import { JobFailure } from '../errors/job-failure.js';
import type { JobTokens } from '../auth/job-token.js';
import { AgentAbortedError, AgentFailedError, type AgentUsage, type Executor } from '../executors/executor.js';
import { leaseOf } from '../jobs/claim-jobs.js';
import type { Lease } from '../jobs/job-lease.js';
import type { Completion } from '../jobs/finish-jobs.js';
import type { CappedClaim, ClaimAnswer, ClaimedJob } from '../jobs/job-flushes.js';
import { handlerOf, type JobError, type RunOutput, type Verdict, type WorkspaceSettings } from '../kinds/index.js';
import type { Logger } from '../logger.js';
import type { QueuedJobData } from '../queues/job-queues.js';
import { type GiveBack, giveBackJob } from '../jobs/give-back-job.js';
import { markParked, unmarkParked } from '../fairness/parked-deliveries.js';
import { isProviderLimit, type ProviderLimitError } from '../errors/provider-limit.js';
import type { ProviderGate } from '../providers/provider-gate.js';
import type { ProviderHold } from '../providers/provider-states.js';
import { type Clock, nextUtcDay } from '../util/clock.js';
import type { GroupCommit } from '../util/group-commit.js';
import { type JobTrace, traceClaimed } from '../telemetry/job-spans.js';
import { tracingOn } from '../telemetry/tracing.js';
import type { AbortCause, RunningJobs } from './running-jobs.js';
import type { WorkerIdentity } from './worker-registry.js';

export interface ProcessorDeps {
  db: Db;
  logger: Logger;
  executor: Executor;
  identity: WorkerIdentity;
  running: RunningJobs;
  claims: GroupCommit<string, ClaimAnswer>;
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
  /** This worker's view of its provider's pause. */
  gate: ProviderGate;
  /** Records a limit the agent met (the provider's pause, fleet-wide) and answers the hold in force. */
  meetLimit(limit: ProviderLimitError): Promise<ProviderHold>;
  /** Holds the kinds' queues in Redis as the pause says; answers how long a worker should wait. */
  holdQueues(hold: ProviderHold): Promise<number>;
  /** JOB_BUDGETS: the kinds' default budgets. */
  budgetDefaults: BudgetDefaults;
  /** How long a job of an owner whose day is spent waits before it is offered again (BUDGET_RECHECK_MS). */
  budgetRecheckMs: number;
  clock: Clock;
  /** Tells the fleet (a live event) that jobs were stopped at their budget; after the failure committed. */
  budgetExceeded(jobs: readonly { job: ClaudeJob; exceeded: BudgetExceeded }[]): Promise<void>;
  /** Notes that an owner has a delivery parked at their cap (src/fairness/parked-deliveries.ts). */
  noteParked(ownerId: string): Promise<void>;
  /** How long a delivery parked at its owner's cap first waits at most before it is offered again (OWNER_CAP_RECHECK_MS). */
  capRecheckMs: number;
  /** A job of this owner no longer holds a slot here (its end, or its wait, is committed): wake a parked one. */
  released(ownerId: string): void;
}

/** What a delivery answers BullMQ when it completes: the job is done, or this delivery was not its run. */
export type ProcessResult = 'DONE' | `dropped: ${string}`;

/**
 * How a delivery's run ended, as recorded in Postgres (or by whoever took the job from it); a job
 * that must wait is QUEUED again, and its delivery goes back to the queue (`retryInMs`) or waits
 * delayed (`until`).
 */
type RunOutcome =
  | { status: 'DONE' }
  | { status: 'FAILED'; reason: string }
  | { status: 'dropped'; why: string }
  | { status: 'waiting'; retryInMs: number }
  | { status: 'delayed'; until: number };

export function createJobProcessor(deps: ProcessorDeps) {
  return async function processJob(delivery: Job<QueuedJobData>, token?: string): Promise<ProcessResult> {
    const outcome = await runDelivery(deps, delivery);
    if (outcome.status === 'DONE') return 'DONE';
    if (outcome.status === 'dropped') return `dropped: ${outcome.why}`;
    // The queue is held (holdQueues) for at least this long: BullMQ puts the delivery back without
    // counting an attempt, and this worker asks again when the hold ends.
    if (outcome.status === 'waiting') throw new RateLimitError();
    if (outcome.status === 'delayed') {
      await delivery.moveToDelayed(outcome.until, token);
      throw new DelayedError();
    }
    // Thrown only once the failure is recorded: BullMQ fails the delivery and does not retry it.
    throw new UnrecoverableError(outcome.reason);
  };
}

function reasonOf(error: JobError): string {
  return `${error.code}: ${error.message}`;
}

async function runDelivery(deps: ProcessorDeps, delivery: Job<QueuedJobData>): Promise<RunOutcome> {
  const arrivedAt = tracingOn() ? Date.now() : 0;
  const claimed = await claim(deps, delivery.data.id);
  if (!claimed) return { status: 'dropped', why: 'not queued' };
  if ('capped' in claimed) return waitForSlot(deps, delivery, claimed);
  // The job's spans continue the trace its enqueue recorded (null when tracing is off).
  const traced = traceClaimed(claimed.job, arrivedAt, deps.identity.workerId);
  try {
    const outcome = await runClaimed(deps, delivery, claimed, traced);
    traced?.ended(outcome);
    return outcome;
  } catch (error) {
    traced?.ended({ status: 'error', reason: (error as Error)?.message });
    throw error;
  } finally {
    deps.released(claimed.job.owner_id);
  }
}

async function runClaimed(
  deps: ProcessorDeps,
  delivery: Job<QueuedJobData>,
  claimed: ClaimedJob,
  traced: JobTrace | null,
): Promise<RunOutcome> {
  const { logger } = deps;
  const { job, prompt, owner } = claimed;
  const lease = leaseOf(job);

  // Nothing reaches the agent while its provider is paused or its owner's day is spent. The gate
  // may be a heartbeat behind an admin's resume: ask Postgres before giving the job back.
  const held = deps.gate.current() ? await stillHeld(deps) : null;
  if (held) return waitForProvider(deps, delivery, lease, held);
  if (owner && isSpent(owner)) return waitForBudget(deps, delivery, lease, owner);

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

  const meter = meterOf(deps, job, owner ?? null, () => run.controller.abort('budget_exceeded' satisfies AbortCause));

  try {
    let output: RunOutput | null = null;
    let verdict: Verdict;
    try {
      const handler = handlerOf(job.kind);
      const signal = run.controller.signal;
      const execute = () =>
        handler.execute
          ? handler.execute({
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
              meter,
            })
          : deps.executor.run({ jobId: job.id, kind: job.kind, prompt, signal, log, channel, meter });
      output = traced ? await traced.run(execute) : await execute();
      verdict = handler.judge(job, output);
    } catch (thrown) {
      const cause = run.controller.signal.aborted ? (run.controller.signal.reason as AbortCause) : null;
      // The provider refused for a while: the job waits with it, no attempt spent.
      // It stays among this worker's running jobs (its lease renewed) until it is given back.
      if (isProviderLimit(thrown) && !cause) {
        clearTimeout(timer);
        const hold = await persist(deps, "the provider's pause", () => deps.meetLimit(thrown));
        return await waitForProvider(deps, delivery, lease, hold, thrown.message, meterUsage(meter));
      }
      if (cause === 'budget_exceeded' && meter.exceeded) {
        clearTimeout(timer);
        const finished = await finish(deps, {
          lease,
          kind: job.kind,
          verdict: budgetVerdict(meter, meter.exceeded, thrown),
          output: null,
          usage: meterUsage(meter),
        });
        if (finished.status === 'FAILED') await deps.budgetExceeded([{ job, exceeded: meter.exceeded }]).catch(() => undefined);
        return finished;
      }
      // Someone else already moved the row: a user cancelled it, or the sweeper failed it. A
      // heartbeat can read a cancelled row before the cancel signal arrives (the signal goes out
      // after the commit and still travels through Redis, across a node on a cluster), so the row
      // says which of the two it was.
      if (cause === 'cancelled' || (cause === 'lease_lost' && (await statusNow(deps.db, job.id)) === 'CANCELLED')) {
        return { status: 'FAILED', reason: 'cancelled: the job was cancelled while its agent ran' };
      }
      if (cause === 'lease_lost') return { status: 'FAILED', reason: 'lease_lost: the job was taken from this worker (its lease lapsed)' };
      if (cause === 'shutdown') {
        await deps.shutdowns.submit(job);
        return { status: 'FAILED', reason: 'worker_shutdown: the worker shut down before the agent finished' };
      }
      verdict = failureOf(coerceError(thrown), cause, deps.timeoutMs);
    } finally {
      clearTimeout(timer);
    }
    // A failed run's usage so far is still spent: keep it (an answer's usage comes with its output).
    return await finish(deps, { lease, kind: job.kind, verdict, output, ...(output ? {} : { usage: meterUsage(meter) }) });
  } finally {
    deps.running.delete(job.id);
  }
}

/** The row's status now; null when Postgres does not answer (the delivery's reason is only a label). */
async function statusNow(db: Db, id: string): Promise<ClaudeJob['status'] | null> {
  try {
    return (await db.selectFrom('claude_jobs').select('status').where('id', '=', id).executeTakeFirst())?.status ?? null;
  } catch {
    return null;
  }
}

/** The job's ceilings: its own budget over its kind's default, and what is left of its owner's day. */
function meterOf(deps: ProcessorDeps, job: ClaudeJob, owner: OwnerDay | null, stop: () => void): UsageMeter {
  // A job given back before keeps what its earlier runs spent (on its row): its ceilings are for the whole job.
  const limits = spentAlready(budgetLimitsOf(job.kind, job.budget as JobBudget | null, deps.budgetDefaults), job);
  const left = owner ? remainingOf(owner) : null;
  const ownerBinds = left !== null && (limits.maxCostUsd === null || left < limits.maxCostUsd);
  return createUsageMeter({
    limits: ownerBinds ? { ...limits, maxCostUsd: left } : limits,
    costCeiling: ownerBinds ? 'owner_daily_usd' : 'max_cost_usd',
    stop,
  });
}

function spentAlready(limits: BudgetLimits, job: ClaudeJob): BudgetLimits {
  const cost = Number(job.cost_usd ?? 0);
  const output = job.output_tokens ?? 0;
  return {
    ...limits,
    maxCostUsd: limits.maxCostUsd === null ? null : Math.max(0, limits.maxCostUsd - cost),
    maxOutputTokens: limits.maxOutputTokens === null ? null : Math.max(0, limits.maxOutputTokens - output),
  };
}

/** What the meter counted, as the usage a job's row keeps. */
function meterUsage(meter: UsageMeter): AgentUsage {
  const { inputTokens, outputTokens, costUsd } = meter.totals;
  return { inputTokens, outputTokens, costUsd };
}

/** Longest partial output kept on a job's error. */
const MAX_PARTIAL_CHARS = 64 * 1024;

function budgetVerdict(meter: UsageMeter, exceeded: BudgetExceeded, thrown: unknown): Verdict {
  const partial = thrown instanceof AgentAbortedError ? thrown.details.partial_output : undefined;
  const text = typeof partial === 'string' ? partial.slice(0, MAX_PARTIAL_CHARS) : '';
  const { totals } = meter;
  const what = exceeded.ceiling === 'owner_daily_usd' ? "its owner's daily budget" : exceeded.ceiling;
  return {
    status: 'FAILED',
    error: {
      code: 'budget_exceeded',
      message: `the agent was stopped at ${what} (limit ${exceeded.limit}, used ${exceeded.used})`,
      details: {
        ceiling: exceeded.ceiling,
        limit: exceeded.limit,
        used: exceeded.used,
        usage: { input_tokens: totals.inputTokens, output_tokens: totals.outputTokens, cost_usd: totals.costUsd, turns: totals.turns },
        partial_output: text,
      },
    },
  };
}

/** The job goes back to QUEUED, and its delivery to the queue, which is held until the provider's pause ends. */
async function waitForProvider(
  deps: ProcessorDeps,
  delivery: Job<QueuedJobData>,
  lease: Lease,
  hold: ProviderHold,
  said?: string,
  usage?: AgentUsage,
): Promise<RunOutcome> {
  const until = hold.resumeAt ? `until ${hold.resumeAt.toISOString()}` : 'until an admin resumes it';
  const why = `waiting: provider ${hold.provider} is paused (${hold.reason}${said ? `: ${said}` : ''}) ${until}; no attempt spent`;
  return giveBack(deps, delivery, lease, { trigger: 'provider_paused', reason: why, ...(usage ? { usage } : {}) }, async () => ({
    status: 'waiting',
    retryInMs: await deps.holdQueues(hold),
  }));
}

/** The provider's pause as Postgres has it now, or null when it has ended; a read that fails keeps the gate's view. */
async function stillHeld(deps: ProcessorDeps): Promise<ProviderHold | null> {
  try {
    return await deps.gate.refresh();
  } catch {
    return deps.gate.current();
  }
}

/** Runs a write until it commits, waiting out a Postgres outage, unless the worker has given up on writes. */
async function persist<T>(deps: ProcessorDeps, what: string, write: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await write();
    } catch (thrown) {
      if (deps.givenUp()) throw thrown;
      const delay = Math.min(500 * 2 ** attempt, 10_000);
      deps.logger.warn({ err: coerceError(thrown).message, retryInMs: delay }, `could not record ${what}; retrying`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/**
 * The job stayed QUEUED (nothing was written): its owner's slots are all taken. Its delivery waits
 * delayed until a slot of theirs frees (a wake promotes it) or OWNER_CAP_RECHECK_MS passes.
 */
async function waitForSlot(deps: ProcessorDeps, delivery: Job<QueuedJobData>, { capped }: CappedClaim): Promise<RunOutcome> {
  // Unmarked, it still waits its delay out; only a wake is lost.
  await markParked(delivery).catch(() => undefined);
  await deps.noteParked(capped.ownerId).catch(() => undefined);
  // Said once per delivery, not at every return: a long wait would fill the delivery's log.
  if (delivery.attemptsStarted <= 1) {
    const why = `waiting: owner ${capped.ownerId} has ${capped.running} of ${capped.maxRunning} jobs running; offered again when one ends; no attempt spent`;
    void delivery.log(why).catch(() => undefined);
  }
  deps.logger.debug({ job: delivery.data.id, owner: capped.ownerId, maxRunning: capped.maxRunning }, 'owner at cap; delivery parked');
  // A freed slot promotes the owner's parked deliveries at once; the delay is only the fallback.
  // It doubles with each return (up to 16 times), so a big capped backlog is not claimed again
  // and again every recheck while its owner's slots stay taken.
  const backoff = 2 ** Math.min(Math.max(delivery.attemptsStarted - 1, 0), 4);
  return { status: 'delayed', until: Date.now() + deps.capRecheckMs * backoff };
}

/** The job goes back to QUEUED, and its delivery waits for the next UTC day or the next look at its owner's budget. */
async function waitForBudget(deps: ProcessorDeps, delivery: Job<QueuedJobData>, lease: Lease, owner: OwnerDay): Promise<RunOutcome> {
  const now = deps.clock();
  const until = Math.min(nextUtcDay(now).getTime(), now.getTime() + deps.budgetRecheckMs);
  const why = `waiting: owner ${owner.ownerId} has spent the daily budget of ${owner.dailyUsd} USD for ${owner.day}; offered again at ${new Date(until).toISOString()}; no attempt spent`;
  // The delay is the worker's own clock, in BullMQ's time: what is left of it from now.
  return giveBack(deps, delivery, lease, { trigger: 'owner_budget_spent', reason: why }, async () => {
    // Parked at the cap before, it must not be woken now: the slot it frees would wake it again.
    await unmarkParked(delivery).catch(() => undefined);
    return { status: 'delayed', until: Date.now() + (until - now.getTime()) };
  });
}

async function giveBack(
  deps: ProcessorDeps,
  delivery: Job<QueuedJobData>,
  lease: Lease,
  wait: GiveBack,
  then: () => Promise<RunOutcome>,
): Promise<RunOutcome> {
  const given = await persist(deps, 'a wait', () => giveBackJob(deps.db, lease, wait));
  if (!given) return { status: 'dropped', why: 'the job left this worker while it waited' };
  void delivery.log(wait.reason).catch(() => undefined);
  deps.logger.info({ job: lease.jobId, trigger: wait.trigger }, wait.reason);
  return then();
}

/** A claim refused for a reason no retry changes fails the job once, and BullMQ does not retry it. */
async function claim(deps: ProcessorDeps, jobId: string): Promise<ClaimAnswer> {
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

const ZERO_USAGE: AgentUsage = Object.freeze({ inputTokens: 0, outputTokens: 0, costUsd: 0 });

/** SQLSTATE class 22: a value out of its column's range (numeric overflow and the like). */
const isDataException = (thrown: unknown) => {
  const code = (thrown as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('22');
};

/** Commits the outcome, waiting out a Postgres outage; a refusal ends it quietly. */
async function finish(deps: ProcessorDeps, completion: Completion): Promise<RunOutcome> {
  let current = completion;
  return persist(deps, 'the outcome', async (): Promise<RunOutcome> => {
    try {
      await deps.completions.submit(current);
    } catch (thrown) {
      if (isAppError(thrown)) {
        deps.logger.info({ job: completion.lease.jobId, code: thrown.code }, `late write refused: ${thrown.message}`);
        return { status: 'dropped', why: thrown.code };
      }
      // Figures Postgres cannot hold (an agent's absurd usage): the outcome matters more than they do.
      if (isDataException(thrown) && current === completion) {
        deps.logger.warn(
          { job: completion.lease.jobId, err: coerceError(thrown).message },
          'outcome refused; recording it without its usage',
        );
        current = { ...completion, output: completion.output && { ...completion.output, usage: ZERO_USAGE }, usage: ZERO_USAGE };
      }
      throw thrown;
    }
    const { verdict } = current;
    return verdict.status === 'DONE' ? { status: 'DONE' } : { status: 'FAILED', reason: reasonOf(verdict.error) };
  });
}
