/**
 * History rows turned into fleet events, with the ids clients filter on and the owner the API
 * scopes them by. Used by the relay for live events and by the API to replay missed ones.
 */
import type { Executor } from '../db/database.js';
import type { TransitionRow } from '../db/tables/transition.table.js';
import { ownershipOf } from '../backlog/ownership.js';
import { MACHINES } from '../machines/index.js';
import { entityType as entitySpelling, jobKind, STATUS_SPELLING } from '../spelling/api-spelling.js';
import { groupBy } from '../util/group-by.js';
import { PROVIDER_LIMITS, type ProviderLimit } from '../errors/provider-limit.js';
import { eventType, type HistoryEvent, type OwnedEvent, type ProviderEventView } from './fleet-event.js';

/** Events of the history rows with these ids (those that exist), in id order. */
export async function eventsByIds(db: Executor, ids: readonly string[]): Promise<OwnedEvent<HistoryEvent>[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('transitions').selectAll().where('id', 'in', ids).orderBy('id').execute();
  return enrich(db, rows);
}

/** Events after `afterId`, oldest first, at most `limit`. */
export async function eventsAfter(db: Executor, afterId: string, limit: number): Promise<OwnedEvent<HistoryEvent>[]> {
  const rows = await db.selectFrom('transitions').selectAll().where('id', '>', afterId).orderBy('id').limit(limit).execute();
  return enrich(db, rows);
}

/**
 * Where a replay after `afterId` starts so that it reads at most `maxRows` rows: `afterId`, or,
 * when more rows than that follow it, the id just before the `maxRows` newest. Read backwards
 * through the primary key, so it costs `maxRows` index entries however old `afterId` is.
 */
export async function replayFloor(db: Executor, afterId: string, maxRows: number): Promise<string> {
  const row = await db
    .selectFrom('transitions')
    .select('id')
    .where('id', '>', afterId)
    .orderBy('id', 'desc')
    .offset(maxRows)
    .limit(1)
    .executeTakeFirst();
  return row === undefined ? afterId : row.id;
}

/** Events before `beforeId` (null: the newest), newest first, at most `limit`. */
export async function eventsBefore(db: Executor, beforeId: string | null, limit: number): Promise<OwnedEvent<HistoryEvent>[]> {
  let query = db.selectFrom('transitions').selectAll().orderBy('id', 'desc').limit(limit);
  if (beforeId !== null) query = query.where('id', '<', beforeId);
  return enrich(db, await query.execute());
}

async function enrich(db: Executor, rows: TransitionRow[]): Promise<OwnedEvent<HistoryEvent>[]> {
  const owners = new Map<string, { productId: string; ownerId: string }>();
  for (const [entity, group] of groupBy(rows, (row) => row.entity_type)) {
    // A provider belongs to the fleet, not to an owner: its events have none.
    if (entity === 'PROVIDER') continue;
    for (const [id, ownership] of await ownershipOf(db, entity, [...new Set(group.map((row) => row.entity_id))])) owners.set(id, ownership);
  }
  const jobIds = rows.filter((row) => row.entity_type === 'CLAUDE_JOB').map((row) => row.entity_id);
  const jobs = jobIds.length
    ? new Map(
        (
          await db
            .selectFrom('claude_jobs')
            .select(['id', 'kind', 'idea_id', 'task_id', 'sprint_run_id'])
            .where('id', 'in', jobIds)
            .execute()
        ).map((job) => [job.id, job]),
      )
    : new Map();
  const providers = await providerViews(db, rows);
  const stepIds = rows.filter((row) => row.entity_type === 'STEP').map((row) => row.entity_id);
  const steps = stepIds.length
    ? new Map(
        (
          await db.selectFrom('steps').select(['id', 'sprint_run_id', 'task_id', 'position', 'name']).where('id', 'in', stepIds).execute()
        ).map((step) => [step.id, step]),
      )
    : new Map();

  return rows.map((row) => {
    const spelling = STATUS_SPELLING[row.entity_type] as { toApi(s: string): string };
    const machine = MACHINES[row.entity_type] as { isStatus(s: string): boolean };
    const spell = (status: string) => (machine.isStatus(status) ? spelling.toApi(status) : status);
    const job = jobs.get(row.entity_id);
    const step = steps.get(row.entity_id);
    const ownership = owners.get(row.entity_id);
    return {
      ownerId: ownership?.ownerId ?? null,
      event: {
        id: row.id,
        type: eventType(row.entity_type, row.from_status, row.to_status),
        entity: entitySpelling.toApi(row.entity_type),
        entity_id: row.entity_id,
        from: row.from_status === null ? null : spell(row.from_status),
        to: spell(row.to_status),
        trigger: row.trigger,
        reason: row.reason,
        actor_token_id: row.actor_token_id,
        at: row.created_at.toISOString(),
        product_id: ownership?.productId ?? null,
        job: job
          ? { id: job.id, kind: jobKind.toApi(job.kind), idea_id: job.idea_id, task_id: job.task_id, sprint_run_id: job.sprint_run_id }
          : null,
        step: step
          ? { id: step.id, sprint_run_id: step.sprint_run_id, task_id: step.task_id, position: step.position, name: step.name }
          : null,
        sprint_run_id: row.entity_type === 'SPRINT_RUN' ? row.entity_id : (step?.sprint_run_id ?? job?.sprint_run_id ?? null),
        idea_id: row.entity_type === 'IDEA' ? row.entity_id : (job?.idea_id ?? null),
        ...(row.entity_type === 'PROVIDER' ? { provider: providers.get(row.id) } : {}),
      },
    };
  });
}

/**
 * What a client needs of each provider event, by history row id. What the pause recorded in its
 * history row's artifacts (`reason`, `message`, `until`) wins, so a replay shows that pause and not
 * a later one; the provider's row fills in what the artifacts lack. A resume ends the pause: no
 * message or time, and the reason is why it had been paused.
 */
async function providerViews(db: Executor, rows: TransitionRow[]): Promise<Map<string, ProviderEventView>> {
  const events = rows.filter((row) => row.entity_type === 'PROVIDER');
  const views = new Map<string, ProviderEventView>();
  if (events.length === 0) return views;
  const providers = new Map(
    (
      await db
        .selectFrom('providers')
        .select(['id', 'name', 'reason', 'message', 'resume_at'])
        .where('id', 'in', [...new Set(events.map((row) => row.entity_id))])
        .execute()
    ).map((provider) => [provider.id, provider]),
  );
  for (const row of events) {
    const provider = providers.get(row.entity_id);
    const recorded = recordedPause(row.artifacts);
    const paused = row.to_status === 'PAUSED';
    views.set(row.id, {
      name: recorded.name ?? provider?.name ?? row.entity_id,
      reason: recorded.reason ?? provider?.reason ?? null,
      message: paused ? (recorded.message ?? provider?.message ?? null) : null,
      until: paused ? (recorded.until ?? provider?.resume_at?.toISOString() ?? null) : null,
    });
  }
  return views;
}

function recordedPause(artifacts: unknown): Partial<ProviderEventView> {
  if (typeof artifacts !== 'object' || artifacts === null) return {};
  const { name, reason, message, until } = artifacts as Record<string, unknown>;
  return {
    ...(typeof name === 'string' ? { name } : {}),
    ...(typeof reason === 'string' && (PROVIDER_LIMITS as readonly string[]).includes(reason) ? { reason: reason as ProviderLimit } : {}),
    ...(typeof message === 'string' ? { message } : {}),
    ...(typeof until === 'string' ? { until } : {}),
  };
}
