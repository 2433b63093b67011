/**
 * Pull mode (SPEC "Agents talk back"): a session with a worker token works the queue itself.
 * wait_for_job claims like a worker (src/jobs/pull-jobs.ts), job_heartbeat keeps the lease,
 * update_job_status finishes the job under it. Writes are fenced like a worker's: another token's
 * job is 403, a claim the sweeper took back (or a newer one) 409.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { AppError } from '../../errors/app-error.js';
import { heldJob } from '../../jobs/job-holder.js';
import { finishPulled, pullJob, pullKinds, pullWorker, pulse } from '../../jobs/pull-jobs.js';
import { addToQueues } from '../../jobs/enqueue-jobs.js';
import { jobKind } from '../../spelling/api-spelling.js';
import { toApiJob } from '../schemas/job.schemas.js';
import type { McpContext } from './mcp-context.js';
import { answerWith } from './tool-answer.js';
import { MAX_WAIT_SECONDS } from './job-tools.js';
import { waitUntil } from './wait-until.js';

/**
 * How often wait_for_job looks for a queued job while it waits, besides looking at once when a
 * live event says a job was queued (the look sorts the queued rows of its kinds: not every 100 ms).
 */
const LOOK_EVERY_MS = 1_000;

export function registerPullTools(server: McpServer, context: McpContext): void {
  const { deps, principal } = context;
  const { db, logger } = deps;
  const leaseMs = deps.config.PULL_LEASE_MS;

  server.registerTool(
    'wait_for_job',
    {
      description: `Claim the next queued job of the given kinds (owners take turns, each within their cap) (default: every kind but sprint_implementation), waiting up to wait_seconds (at most ${MAX_WAIT_SECONDS}) for one. You then hold it under a lease: call job_heartbeat at least every ${Math.round(leaseMs / 1000)} s and end it with update_job_status.`,
      inputSchema: {
        kinds: z
          .array(z.enum(jobKind.apiValues as [string, ...string[]]))
          .max(10)
          .optional(),
        wait_seconds: z.number().int().min(0).max(MAX_WAIT_SECONDS).optional().describe('Default 30'),
      },
    },
    ({ kinds, wait_seconds }, extra) =>
      answerWith(logger, 'wait_for_job', async () => {
        const wanted = pullKinds(kinds?.map((kind) => jobKind.fromApi(kind)!));
        const worker = await pullWorker(db, principal.tokenId, wanted);
        const progressToken = extra._meta?.progressToken;
        let ticks = 0;
        const pulled = await waitUntil({
          deadline: Date.now() + (wait_seconds ?? 30) * 1000,
          signal: AbortSignal.any([context.signal, extra.signal]),
          everyMs: LOOK_EVERY_MS,
          check: async () => (await pullJob(db, worker, wanted, leaseMs, deps.config.OWNER_MAX_RUNNING ?? null)) ?? undefined,
          // A job queued anywhere in the fleet is looked for at once, not at the next look.
          onWake: (wake) =>
            deps.events.subscribe((events) => {
              if (events.some(({ event }) => event.entity === 'job' && event.to === 'queued')) wake();
            }),
          tickMs: 10_000,
          tick: async () => {
            ticks += 1;
            if (progressToken === undefined) return;
            await extra
              .sendNotification({
                method: 'notifications/progress',
                params: { progressToken, progress: ticks, message: 'waiting for a job' },
              })
              .catch(() => undefined);
          },
        });
        if (!pulled) return { job: null };
        // The row is claimed: its queue entry would only hand a worker process a delivery to drop.
        await deps.queues.remove([pulled.job]).catch(() => undefined);
        return { job: toApiJob(pulled.job), prompt: pulled.prompt, lease_expires_at: pulled.job.lease_expires_at?.toISOString() ?? null };
      }),
  );

  const claimArgs = {
    job_id: z.uuid(),
    claim_epoch: z.number().int().min(0).optional().describe('The claim_epoch wait_for_job gave you; a newer claim is refused with 409'),
  };

  server.registerTool(
    'job_heartbeat',
    {
      description:
        'Renew the lease of a job you claimed with wait_for_job; says whether it was cancelled (stop working on it) or its sprint run paused.',
      inputSchema: claimArgs,
    },
    ({ job_id, claim_epoch }) =>
      answerWith(logger, 'job_heartbeat', async () => {
        const epoch = claim_epoch ?? (await currentEpoch(context, job_id));
        return { ...(await pulse(db, { jobId: job_id, epoch, tokenId: principal.tokenId }, leaseMs)) };
      }),
  );

  server.registerTool(
    'update_job_status',
    {
      description:
        'Finish a job you claimed: done (summary is your answer; for a grill or plan, what you wrote with update_idea_grill_md / update_idea_plan_md is) or failed (error says why).',
      inputSchema: {
        ...claimArgs,
        status: z.enum(['done', 'failed']),
        summary: z.string().max(200_000).optional(),
        error: z.string().max(10_000).optional(),
        usage: z
          .object({
            input_tokens: z.number().int().min(0).max(1_000_000_000),
            output_tokens: z.number().int().min(0).max(1_000_000_000),
            cost_usd: z.number().min(0).max(1_000_000),
          })
          .optional(),
      },
    },
    ({ job_id, claim_epoch, status, summary, error, usage }) =>
      answerWith(logger, 'update_job_status', async () => {
        const job = await heldJob(db, principal, { jobId: job_id, epoch: claim_epoch, leaseMs: deps.config.LEASE_MS });
        const lease = { jobId: job.id, epoch: job.claim_epoch, tokenId: principal.tokenId };
        const { job: finished, enqueued } = await finishPulled(db, job, lease, { status, summary, error, usage }, 'mcp:pull');
        await addToQueues({ queues: deps.queues, logger }, enqueued);
        return { job: toApiJob(finished) };
      }),
  );
}

async function currentEpoch(context: McpContext, jobId: string): Promise<number> {
  const row = await context.deps.db.selectFrom('claude_jobs').select('claim_epoch').where('id', '=', jobId).executeTakeFirst();
  if (!row) throw new AppError('not_found', `job ${jobId} does not exist`, { id: jobId });
  return row.claim_epoch;
}
