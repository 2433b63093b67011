/**
 * Single enqueues, coalesced: concurrent `POST /api/v1/jobs` calls join one transaction and one
 * bulk add instead of paying a transaction and a Redis round trip each. Each caller still gets
 * its own answer only after its row is committed and handed to its queue, and a request that
 * fails (an unknown subject, a bad payload) fails alone: the group commit retries the batch item
 * by item.
 *
 * Two concurrent requests for one kind and subject land in one batch in arrival order, so the
 * earlier is answered SKIPPED (superseded by the later), as if they had been sent one by one
 * and the first had been superseded before anyone looked.
 *
 * One transaction at a time, and a flush ends at its commit: the batch's bulk add to Redis runs
 * while the next batch's transaction does (and no further ahead: the transaction after that one
 * waits for it). A flush's round trips (seven statements) cost the API and Postgres more CPU than
 * the jobs' own rows, so the fewer and larger the batches, the more jobs a second: with two
 * transactions in flight, 64 callers made batches of about 19 jobs. The adds and removals still
 * reach Redis in the order the batches committed (each waits for the one before), so a job one
 * batch supersedes from another is never added after its removal. (Other enqueue paths queue
 * outside this chain; an entry one of them leaves for a superseded job is dropped at its claim.)
 */
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { createGroupCommit, type FlushResult } from '../util/group-commit.js';
import { groupBy } from '../util/group-by.js';
import { activeTraceContext, tracingOn } from '../telemetry/tracing.js';
import { type EnqueueContext, type EnqueueDeps, type EnqueueRequest, insertJobs, queueInserted } from './enqueue-jobs.js';

interface Pending {
  request: EnqueueRequest;
  context: EnqueueContext;
}

/** A committed job, and when it has been handed to its queue. */
interface Committed {
  job: ClaudeJob;
  queued: Promise<void>;
}

export type EnqueueOne = (request: EnqueueRequest, context: EnqueueContext) => Promise<ClaudeJob>;

export function createEnqueueBatcher(deps: EnqueueDeps, options: { maxBatch?: number; maxInFlight?: number } = {}): EnqueueOne {
  // The queue work of every committed group, in commit order. A Redis that cannot take the jobs
  // leaves them to the sweeper (queueInserted logs it); nothing that fails here fails a caller,
  // whose job is committed, nor breaks the chain for the groups after it.
  let queuing: Promise<void> = Promise.resolve();
  // The chain as it stood before the last commit: a new transaction waits for it, so at most one
  // batch's queue work lags behind the commits, and a Redis that answers slowly holds new commits
  // back instead of piling up committed jobs whose callers wait unanswered.
  let queuedBeforeLast: Promise<void> = Promise.resolve();
  /** One caller's group in one transaction; its queue work starts once the one before is done. */
  const commit = async (group: readonly Pending[]): Promise<Committed[]> => {
    await queuedBeforeLast;
    const inserted = await deps.db.transaction().execute((trx) =>
      insertJobs(
        trx,
        group.map((item) => item.request),
        group[0]!.context,
      ),
    );
    queuedBeforeLast = queuing;
    queuing = queuing
      .then(() => queueInserted(deps, inserted))
      .catch((error: unknown) =>
        deps.logger.warn({ err: (error as Error).message }, 'committed jobs not queued; the sweeper will queue them'),
      );
    const queued = queuing;
    return inserted.created.map((job) => ({ job, queued }));
  };

  const batches = createGroupCommit<Pending, Committed>({
    maxBatch: options.maxBatch ?? 200,
    maxInFlight: options.maxInFlight ?? 1,
    async flush(items) {
      const results = new Map<Pending, FlushResult<Committed>>();
      // One enqueue per caller: ownership checks and history actors belong to the caller. A group
      // that fails is retried request by request here, never the whole flush: the groups before
      // it are committed and must not be enqueued twice.
      for (const group of groupBy(items, (item) => `${item.context.actorTokenId}\u0000${item.context.ownerId ?? ''}`).values()) {
        try {
          const committed = await commit(group);
          group.forEach((item, index) => results.set(item, { ok: true, value: committed[index]! }));
        } catch (groupError) {
          if (group.length === 1) results.set(group[0]!, { ok: false, error: groupError });
          else for (const item of group) results.set(item, await commitAlone(item));
        }
      }
      return items.map((item) => results.get(item)!);
    },
  });

  const commitAlone = async (item: Pending): Promise<FlushResult<Committed>> => {
    try {
      const [committed] = await commit([item]);
      return { ok: true, value: committed! };
    } catch (error) {
      return { ok: false, error };
    }
  };

  return async (request, context) => {
    // The batch is inserted in whichever caller's context flushes it: each request takes its own.
    const traced = tracingOn() ? { ...request, trace: request.trace ?? activeTraceContext() } : request;
    const { job, queued } = await batches.submit({ request: traced, context });
    await queued;
    return job;
  };
}
