/**
 * A fleet event: one history row (a status change of any entity) with what clients filter on.
 * Its id is the history row's id, so a client that reconnects with Last-Event-ID is replayed
 * everything after it from the history table.
 *
 * `type` names what happened in the terms of the agentic-workflow clients: started, completed,
 * failed (jobs and sprint runs), step_started, step_completed (steps), and `transition` for every
 * other status change (ideas, tasks, stories, ...).
 *
 * A job notice (src/events/job-notices.ts) travels the same way but is no history row: what an
 * agent said from inside its job (`progress`) and its questions to a person (`question_*`). Its
 * id is null: nothing replays it, and a stream never hands it out as a Last-Event-ID.
 */
import { isAdmin, type Principal } from '../auth/principal.js';
import type { BudgetCeiling } from '../executors/usage-meter.js';
import type { QuestionView } from '../jobs/job-questions.js';
import type { EntityType } from '../machines/index.js';
import type { ProviderLimit } from '../errors/provider-limit.js';

export type StatusEventType =
  | 'started'
  | 'completed'
  | 'failed'
  | 'step_started'
  | 'step_completed'
  | 'provider_paused'
  | 'provider_resumed'
  | 'transition';
export type NoticeType = 'progress' | 'question_asked' | 'question_answered' | 'question_closed' | 'budget_exceeded';
export type EventType = StatusEventType | NoticeType;

export interface FleetEvent {
  /** The history row's id; null for a job notice, which is not replayable. */
  id: string | null;
  type: EventType;
  /** API spelling: job, sprint_run, step, idea, task, story, pbi, sprint. */
  entity: string;
  entity_id: string;
  from: string | null;
  to: string;
  trigger: string;
  reason: string | null;
  actor_token_id: string | null;
  at: string;
  product_id: string | null;
  job: { id: string; kind: string; idea_id: string | null; task_id: string | null; sprint_run_id: string | null } | null;
  step: { id: string; sprint_run_id: string; task_id: string | null; position: number; name: string } | null;
  /** Set for the run itself, its steps and its jobs. */
  sprint_run_id: string | null;
  /** Set for the idea itself and its jobs. */
  idea_id: string | null;
  /** `progress` notices: what the agent reported (percent null when it gave none). */
  progress?: { message: string; percent: number | null };
  /** `question_*` notices: the question as it is now. */
  question?: QuestionView;
  /** `budget_exceeded` notices: the ceiling that stopped the job, its limit and what was used. */
  budget?: { ceiling: BudgetCeiling; limit: number; used: number };
  /**
   * `provider_paused` / `provider_resumed`: the provider's name, why it was paused, what it said
   * and until when (null: until an admin resumes it, or no longer paused).
   */
  provider?: ProviderEventView;
}

export interface ProviderEventView {
  name: string;
  reason: ProviderLimit | null;
  message: string | null;
  until: string | null;
}

/** An event of a history row: it always has an id, which Last-Event-ID replays from. */
export type HistoryEvent = FleetEvent & { id: string };

/** What travels between processes: the event and its product's owner (never sent to clients). */
export interface OwnedEvent<E extends FleetEvent = FleetEvent> {
  event: E;
  ownerId: string | null;
}

export function eventType(entity: EntityType, from: string | null, to: string): StatusEventType {
  if (entity === 'CLAUDE_JOB' || entity === 'SPRINT_RUN') {
    if (to === 'RUNNING' && (from === 'CLAIMED' || from === 'QUEUED')) return 'started';
    if (to === 'DONE') return 'completed';
    if (to === 'FAILED' || to === 'CANCELLED') return 'failed';
  }
  // A provider's creation (met for the first time, ACTIVE) is no resume.
  if (entity === 'PROVIDER' && from !== null) return to === 'PAUSED' ? 'provider_paused' : 'provider_resumed';
  if (entity === 'STEP') {
    if (to === 'IN_PROGRESS') return 'step_started';
    if (to === 'COMPLETED') return 'step_completed';
    if (to === 'FAILED') return 'failed';
  }
  return 'transition';
}

export interface EventFilter {
  job_id?: string | undefined;
  idea_id?: string | undefined;
  sprint_run_id?: string | undefined;
  product_id?: string | undefined;
  /** Job kinds in API spelling: only job events (status changes and notices) carry a kind, so only they match. */
  kind?: readonly string[] | undefined;
  /** The event's `to` status in API spelling (a notice's `to` is its job's status when it was sent). */
  status?: readonly string[] | undefined;
  /** One owner's events; the fleet's own (a provider's) belong to no owner, so they never match. */
  owner_id?: string | undefined;
}

/** Which events a subscriber may see, whatever it filters on. */
export type EventAudience = (owned: OwnedEvent) => boolean;

/**
 * Admins see every event. A read token sees its owner's. A worker token sees every owner's job
 * events, as it may read every owner's jobs, and nothing of the backlog it may not read.
 * Provider events belong to no owner and are seen by everyone who may read the fleet (read,
 * worker): a paused provider holds every owner's jobs, and the event carries no owner's data.
 */
export function audienceOf(principal: Principal): EventAudience {
  if (isAdmin(principal)) return () => true;
  const owner = principal.scopes.includes('read') ? principal.ownerId : null;
  const everyOwnersJobs = principal.scopes.includes('worker');
  const readsFleet = owner !== null || everyOwnersJobs;
  return (owned) =>
    (owner !== null && owned.ownerId === owner) || (everyOwnersJobs && owned.event.entity === 'job') || (readsFleet && isFleetWide(owned));
}

/** An event of the fleet itself (a provider's pause or resume), which no owner holds. */
function isFleetWide(owned: OwnedEvent): boolean {
  return owned.ownerId === null && owned.event.entity === 'provider';
}

/** Whether a subscriber with this filter, seeing what `audience` lets it, gets the event. */
export function matches(owned: OwnedEvent, filter: EventFilter, audience: EventAudience): boolean {
  const { event } = owned;
  if (!audience(owned)) return false;
  if (filter.job_id && !(event.entity === 'job' && event.entity_id === filter.job_id)) return false;
  if (filter.idea_id && event.idea_id !== filter.idea_id) return false;
  if (filter.sprint_run_id && event.sprint_run_id !== filter.sprint_run_id) return false;
  if (filter.product_id && event.product_id !== filter.product_id) return false;
  if (filter.kind && !(event.job !== null && filter.kind.includes(event.job.kind))) return false;
  if (filter.status && !filter.status.includes(event.to)) return false;
  if (filter.owner_id && owned.ownerId !== filter.owner_id) return false;
  return true;
}
