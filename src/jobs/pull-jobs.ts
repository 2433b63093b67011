/**
 * Pull mode (SPEC "Agents talk back"): an agent session works the queue itself, as the seed's
 * agents do, through the MCP tools wait_for_job, job_heartbeat and update_job_status. It is a
 * worker like any other: its claims go through the same claim statement (QUEUED -> CLAIMED ->
 * RUNNING, its token, a new claim epoch, a lease) within the owners' caps, its writes are fenced
 * by the same lease guard, and the sweeper fails its job `worker_lost` when it stops beating. It
 * takes the next QUEUED job of its kinds in turn straight from Postgres, the truth, and then drops
 * the job's queue entry so that no worker process is handed it for nothing.
 *
 * SPRINT_IMPLEMENTATION is not served in pull mode: a batch run's steps are driven by the worker
 * process that runs it (src/sprints/sprint-batch.ts).
 */
import os from 'node:os';
import { sql } from 'kysely';
import type { JsonValue } from '../db/column-types.js';
import type { Db } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import { AppError } from '../errors/app-error.js';
import { parseJsonOutput, type Prompt } from '../executors/executor.js';
import { JOB_KINDS, type JobKind } from '../queues/kinds.js';
import { jobKind } from '../spelling/api-spelling.js';
import { admitWithinCaps } from '../fairness/owner-caps.js';
import { claimJobs, type WorkerIdentity } from './claim-jobs.js';
import { finishJobs } from './finish-jobs.js';
import { installedHandlerOf } from './installed-kinds.js';
import { explainLeaseRefusal, type Lease } from './job-lease.js';
import type { RunOutput, Verdict } from './kind-handler.js';

export const PULL_KINDS: readonly JobKind[] = JOB_KINDS.filter((kind) => kind !== 'SPRINT_IMPLEMENTATION');

export interface PulledJob {
  job: ClaudeJob;
  prompt: Prompt;
}

/** The workers row standing for a token's pull-mode session: found again, or made on its first pull. */
export async function pullWorker(db: Db, tokenId: string, kinds: readonly JobKind[]): Promise<WorkerIdentity> {
  const alive = await db
    .updateTable('workers')
    .set({ heartbeat_at: new Date(), kinds: [...kinds] })
    .where('token_id', '=', tokenId)
    .where('mode', '=', 'pull')
    .where('stopped_at', 'is', null)
    .returning('id')
    .executeTakeFirst();
  if (alive) return { workerId: alive.id, tokenId };
  const token = await db.selectFrom('api_tokens').select('name').where('id', '=', tokenId).executeTakeFirstOrThrow();
  const { id } = await db
    .insertInto('workers')
    .values({
      host: `${token.name} (pull mode via ${os.hostname()})`,
      pid: 0,
      kinds: [...kinds],
      concurrency: 1,
      token_id: tokenId,
      version: 'mcp',
      mode: 'pull',
      heartbeat_at: new Date(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { workerId: id, tokenId };
}

/** Candidates a pull looks at per claim: the first whose owner has a free slot under their lock wins. */
const PULL_CANDIDATES = 20;

/** An owner without a cap: more than any owner can hold. */
const MAX_INT = 2_147_483_647;

/**
 * Claims the next QUEUED job of these kinds in turn (src/fairness/turns.ts: owners take turns, as
 * BullMQ serves workers) whose owner is within their cap (owner-caps.ts: pulls judge caps as
 * workers' claims do), or null when there is none.
 */
export async function pullJob(
  db: Db,
  worker: WorkerIdentity,
  kinds: readonly JobKind[],
  leaseMs: number,
  ownerMaxRunning: number | null,
): Promise<PulledJob | null> {
  return db.transaction().execute(async (trx) => {
    // No row locks here: the caps' owner locks come first in every claim (as in a worker's),
    // and a row another claim takes meanwhile is refused by the guarded claim below. Owners at
    // their cap are passed over already (a guess, without their locks): however many of their
    // jobs come first, they must not hide another owner's.
    const { rows: candidates } = await sql<{ id: string }>`
      WITH held AS (
        SELECT owner_id, count(*) AS running FROM claude_jobs WHERE status IN ('CLAIMED', 'RUNNING') GROUP BY owner_id
      )
      SELECT j.id FROM claude_jobs j
      LEFT JOIN owner_caps c ON c.owner_id = j.owner_id
      LEFT JOIN held h ON h.owner_id = j.owner_id
      WHERE j.status = 'QUEUED' AND j.kind = ANY(${[...kinds]}::text[])
        AND coalesce(h.running, 0) < coalesce(CASE WHEN c.owner_id IS NULL THEN ${ownerMaxRunning}::int ELSE c.max_running END, ${MAX_INT})
      ORDER BY j.turn, j.created_at, j.id
      LIMIT ${PULL_CANDIDATES}
    `.execute(trx);
    if (candidates.length === 0) return null;
    const { admitted } = await admitWithinCaps(
      trx,
      candidates.map((candidate) => candidate.id),
      ownerMaxRunning,
    );
    for (const id of admitted) {
      const [job] = (await claimJobs(trx, [id], worker, { leaseMs, start: true })).claimed;
      if (!job) continue;
      const prompts = await installedHandlerOf(job.kind).buildPrompts(trx, [job]);
      return { job, prompt: prompts.get(job.id)! };
    }
    return null;
  });
}

export interface PulseAnswer {
  lease_expires_at: string | null;
  cancelled: boolean;
  paused: boolean;
}

/**
 * Renews the lease of a pull-mode job and says whether it was cancelled (the session should
 * stop) or its sprint run paused. A job another token holds is 403, a newer claim 409.
 */
export async function pulse(db: Db, lease: Lease, leaseMs: number): Promise<PulseAnswer> {
  const renewed = await sql<{ lease_expires_at: Date; sprint_run_id: string | null; worker_id: string | null }>`
    UPDATE claude_jobs SET lease_expires_at = now() + ${leaseMs} * interval '1 millisecond'
    WHERE id = ${lease.jobId} AND claim_epoch = ${lease.epoch} AND claimed_by_token_id = ${lease.tokenId}
      AND status IN ('CLAIMED', 'RUNNING')
    RETURNING lease_expires_at, sprint_run_id, claimed_by_worker_id AS worker_id
  `.execute(db);
  const row = renewed.rows[0];
  if (row) {
    if (row.worker_id) await db.updateTable('workers').set({ heartbeat_at: new Date() }).where('id', '=', row.worker_id).execute();
    const run = row.sprint_run_id
      ? await db.selectFrom('sprint_runs').select('status').where('id', '=', row.sprint_run_id).executeTakeFirst()
      : undefined;
    return { lease_expires_at: row.lease_expires_at.toISOString(), cancelled: false, paused: run?.status === 'PAUSED' };
  }
  const job = await db
    .selectFrom('claude_jobs')
    .select(['status', 'claim_epoch', 'claimed_by_token_id'])
    .where('id', '=', lease.jobId)
    .executeTakeFirst();
  // A cancel is news for the session, not an error: it should stop working on the job.
  if (job?.status === 'CANCELLED' && job.claim_epoch === lease.epoch && job.claimed_by_token_id === lease.tokenId) {
    return { lease_expires_at: null, cancelled: true, paused: false };
  }
  throw await explainLeaseRefusal(db, lease, 'RUNNING');
}

export interface PulledOutcome {
  status: 'done' | 'failed';
  summary?: string | undefined;
  error?: string | undefined;
  usage?: { input_tokens: number; output_tokens: number; cost_usd: number } | undefined;
}

/**
 * Finishes a pull-mode job under its lease, as a worker finishes one: the kind judges the output
 * (a plan must parse) and writes its results in the same transaction. The output's text is the
 * document the session wrote through update_idea_grill_md / update_idea_plan_md, else its summary.
 */
export async function finishPulled(db: Db, job: ClaudeJob, lease: Lease, outcome: PulledOutcome, agent: string) {
  const text = job.document ?? outcome.summary ?? '';
  const usage = outcome.usage ?? { input_tokens: 0, output_tokens: 0, cost_usd: 0 };
  const output: RunOutput = {
    text,
    data: outcome.summary ? parseJsonOutput(outcome.summary) : null,
    usage: { inputTokens: usage.input_tokens, outputTokens: usage.output_tokens, costUsd: usage.cost_usd },
    agent,
  };
  const handler = installedHandlerOf(job.kind);
  const verdict: Verdict =
    outcome.status === 'done'
      ? handler.judge(job, output)
      : {
          status: 'FAILED',
          error: { code: 'agent_failed', message: outcome.error ?? outcome.summary ?? 'the agent reported that it failed' },
          result: { text, data: output.data as JsonValue, agent },
        };
  const { finished, refused, enqueued } = await db
    .transaction()
    .execute((trx) => finishJobs(trx, [{ lease, kind: job.kind, verdict, output }]));
  if (refused.length > 0 || !finished[0]) throw await explainLeaseRefusal(db, lease, 'RUNNING');
  return { job: finished[0], enqueued };
}

/** Kinds a pull-mode session asked for, refused when one cannot be pulled. */
export function pullKinds(kinds: readonly JobKind[] | undefined): readonly JobKind[] {
  if (!kinds || kinds.length === 0) return PULL_KINDS;
  const refused = kinds.filter((kind) => !PULL_KINDS.includes(kind));
  if (refused.length > 0) {
    const names = refused.map((kind) => jobKind.toApi(kind));
    throw new AppError('validation_failed', `${names.join(', ')} cannot be worked in pull mode: a worker process runs sprint batches`, {
      refused: names,
    });
  }
  return kinds;
}
