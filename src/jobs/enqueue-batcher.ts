/**
 * Single enqueues, coalesced: concurrent `POST /api/v1/jobs` calls join one transaction and one
 * bulk add instead of paying a transaction and a Redis round trip each. Each caller still gets
 * its own answer only after its row is committed, and a request that fails (an unknown subject,
 * a bad payload) fails alone: the group commit retries the batch item by item.
 *
 * Two concurrent requests for one kind and subject land in one batch in arrival order, so the
 * earlier is answered SKIPPED (superseded by the later), as if they had been sent one by one
 * and the first had been superseded before anyone looked.
 */
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { createGroupCommit, type FlushResult } from '../util/group-commit.js';
import { groupBy } from '../util/group-by.js';
import { type EnqueueContext, type EnqueueDeps, type EnqueueRequest, enqueueJobs } from './enqueue-jobs.js';

interface Pending {
  request: EnqueueRequest;
  context: EnqueueContext;
}

export type EnqueueOne = (request: EnqueueRequest, context: EnqueueContext) => Promise<ClaudeJob>;

export function createEnqueueBatcher(deps: EnqueueDeps, options: { maxBatch?: number; maxInFlight?: number } = {}): EnqueueOne {
  const batches = createGroupCommit<Pending, ClaudeJob>({
    maxBatch: options.maxBatch ?? 200,
    // Each flush holds a pool connection; leave the rest of the pool to the other routes.
    maxInFlight: options.maxInFlight ?? 2,
    async flush(items) {
      const results = new Map<Pending, FlushResult<ClaudeJob>>();
      // One enqueue per caller: ownership checks and history actors belong to the caller. A group
      // that fails is retried request by request here, never the whole flush: the groups before
      // it are committed and must not be enqueued twice.
      for (const group of groupBy(items, (item) => `${item.context.actorTokenId}\u0000${item.context.ownerId ?? ''}`).values()) {
        try {
          const created = await enqueueJobs(
            deps,
            group.map((item) => item.request),
            group[0]!.context,
          );
          group.forEach((item, index) => results.set(item, { ok: true, value: created[index]! }));
        } catch (groupError) {
          if (group.length === 1) results.set(group[0]!, { ok: false, error: groupError });
          else for (const item of group) results.set(item, await enqueueAlone(deps, item));
        }
      }
      return items.map((item) => results.get(item)!);
    },
  });
  return (request, context) => batches.submit({ request, context });
}

async function enqueueAlone(deps: EnqueueDeps, { request, context }: Pending): Promise<FlushResult<ClaudeJob>> {
  try {
    const [created] = await enqueueJobs(deps, [request], context);
    return { ok: true, value: created! };
  } catch (error) {
    return { ok: false, error };
  }
}
