/**
 * A ClaudeJob is one unit of agent work, carried by BullMQ and recorded here.
 *
 * - QUEUED: committed and on (or on its way back to) its kind's queue.
 * - CLAIMED: a worker took it, bound to that worker's token and a new claim epoch (fencing).
 * - RUNNING: the executor runs; the worker renews the job's lease while it does.
 * - DONE: result, token usage and cost stored (terminal).
 * - FAILED: error stored (terminal); `worker_lost` when the lease lapsed, `retries_exhausted`
 *   when stale claims went past the retry cap.
 * - CANCELLED: a user cancelled it; a running executor is aborted (terminal).
 * - SKIPPED: a newer job of the same kind for the same subject superseded it (terminal).
 *
 * Beyond the seed's diagram: CLAIMED -> FAILED (stale claims past the retry cap),
 * QUEUED -> FAILED (a claim refused for a reason no retry changes: `unrunnable`),
 * CLAIMED/RUNNING -> CANCELLED (cancel reaches a job an agent is already working on), and
 * CANCELLED by the system when the sprint run a job works for stops, and RUNNING -> QUEUED when
 * the job must wait for its provider or its owner's budget (SPEC "Provider limits and budgets").
 */
import { defineSpelling } from '../util/define-spelling.js';
import { defineMachine } from './define-machine.js';

export const CLAUDE_JOB_STATUSES = ['QUEUED', 'CLAIMED', 'RUNNING', 'DONE', 'FAILED', 'CANCELLED', 'SKIPPED'] as const;
export type ClaudeJobStatus = (typeof CLAUDE_JOB_STATUSES)[number];

/** How the API spells each status. */
export const claudeJobStatus = defineSpelling({
  QUEUED: 'queued',
  CLAIMED: 'claimed',
  RUNNING: 'running',
  DONE: 'done',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  SKIPPED: 'skipped',
} as const satisfies Record<ClaudeJobStatus, string>);

export const claudeJobMachine = defineMachine({
  entity: 'CLAUDE_JOB',
  table: 'claude_jobs',
  statuses: CLAUDE_JOB_STATUSES,
  initial: 'QUEUED',
  noun: 'job',
  spell: claudeJobStatus.toApi,
  transitions: [
    { from: 'QUEUED', to: 'CLAIMED', trigger: 'claimed', by: 'system', description: 'a worker claims the job' },
    { from: 'CLAIMED', to: 'RUNNING', trigger: 'started', by: 'system', description: 'the claiming worker starts the agent' },
    { from: 'RUNNING', to: 'DONE', trigger: 'agent_done', by: 'system', description: 'the agent returns a result' },
    { from: 'RUNNING', to: 'FAILED', trigger: 'agent_failed', by: 'system', description: 'the agent fails' },
    {
      from: 'RUNNING',
      to: 'FAILED',
      trigger: 'worker_lost',
      by: 'system',
      description: "the job's lease lapses because its worker is gone",
    },
    {
      from: 'CLAIMED',
      to: 'QUEUED',
      trigger: 'stale_claim',
      by: 'system',
      description: 'the claim grows stale and the sweeper requeues the job',
    },
    {
      from: 'RUNNING',
      to: 'QUEUED',
      trigger: 'provider_paused',
      by: 'system',
      description: "the agent's provider is paused (a rate limit, an overload, a spend limit): the job waits, its attempt given back",
    },
    {
      from: 'RUNNING',
      to: 'QUEUED',
      trigger: 'owner_budget_spent',
      by: 'system',
      description: "the owner's daily budget is spent: the job waits for the next day or a raised budget, its attempt given back",
    },
    { from: 'CLAIMED', to: 'FAILED', trigger: 'retries_exhausted', by: 'system', description: 'the claim grows stale past the retry cap' },
    {
      from: 'QUEUED',
      to: 'FAILED',
      trigger: 'unrunnable',
      by: 'system',
      description: 'the claim is refused for a reason no retry changes (its subject check can never pass)',
    },
    {
      from: 'QUEUED',
      to: 'SKIPPED',
      trigger: 'superseded',
      by: 'system',
      description: 'a newer job of the same kind for the same subject is enqueued',
    },
    { from: 'QUEUED', to: 'CANCELLED', trigger: 'user_cancels', by: 'user', description: 'a user cancels the job' },
    { from: 'CLAIMED', to: 'CANCELLED', trigger: 'user_cancels', by: 'user', description: 'a user cancels the job' },
    { from: 'RUNNING', to: 'CANCELLED', trigger: 'user_cancels', by: 'user', description: 'a user cancels the job; its agent is aborted' },
    {
      from: 'QUEUED',
      to: 'CANCELLED',
      trigger: 'run_stopped',
      by: 'system',
      description: 'the sprint run the job works for fails or is cancelled',
    },
    {
      from: 'CLAIMED',
      to: 'CANCELLED',
      trigger: 'run_stopped',
      by: 'system',
      description: 'the sprint run the job works for fails or is cancelled',
    },
    {
      from: 'RUNNING',
      to: 'CANCELLED',
      trigger: 'run_stopped',
      by: 'system',
      description: 'the sprint run the job works for fails or is cancelled; its agent is aborted',
    },
  ],
});
