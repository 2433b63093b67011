/**
 * Providers' pauses, in Postgres (the truth; Redis only carries them out, provider-queues.ts).
 * A limit pauses the provider through the door (ACTIVE -> PAUSED, a history row and a live event),
 * or lengthens a pause already in force; the sweeper ends timed pauses when their time has passed,
 * and an admin ends a spend limit's.
 */
import { sql } from 'kysely';
import type { Db, Executor, Trx } from '../db/database.js';
import type { ProviderRow } from '../db/tables/provider.table.js';
import { AppError } from '../errors/app-error.js';
import type { JobKind } from '../job-kinds.js';
import { providerMachine } from '../machines/index.js';
import { createEntity, transition, transitionMany } from '../transitions/index.js';
import type { ProviderLimit } from '../errors/provider-limit.js';

export interface PauseSettings {
  /** How long a rate limit lasts when the provider gave no time (PROVIDER_RATE_LIMIT_DEFAULT_MS). */
  rateLimitDefaultMs: number;
  /** The first overload's wait; each overload in a row doubles it (PROVIDER_BACKOFF_BASE_MS). */
  backoffBaseMs: number;
  backoffMaxMs: number;
}

export interface PauseRequest {
  provider: string;
  limit: ProviderLimit;
  retryAfterMs: number | null;
  message: string;
  /** The kinds of the worker that met the limit (the provider's other workers' kinds are added). */
  kinds: readonly JobKind[];
  actorTokenId: string | null;
}

/** A pause as Redis must carry it: the kinds' queues held until `resumeAt` (null: until resumed). */
export interface ProviderHold {
  provider: string;
  reason: ProviderLimit;
  message: string | null;
  resumeAt: Date | null;
  kinds: JobKind[];
}

export const holdOf = (row: ProviderRow): ProviderHold => ({
  provider: row.name,
  reason: row.reason ?? 'rate_limit',
  message: row.message,
  resumeAt: row.resume_at,
  kinds: row.kinds as JobKind[],
});

const TRIGGER: Record<ProviderLimit, string> = {
  rate_limit: 'rate_limited',
  overloaded: 'overloaded',
  spend_limit: 'spend_limit_reached',
};

/**
 * Exponential backoff with "equal jitter": half the step is kept, half is random, so that waiting
 * workers spread out but none comes back at once.
 */
export function overloadWaitMs(streak: number, settings: PauseSettings, random = Math.random): number {
  const step = Math.min(settings.backoffMaxMs, settings.backoffBaseMs * 2 ** Math.max(0, streak - 1));
  return Math.round(step / 2 + random() * (step / 2));
}

/** Records a limit; answers the hold now in force and whether this call paused the provider. */
export async function pauseProvider(
  db: Db,
  request: PauseRequest,
  settings: PauseSettings,
): Promise<{ hold: ProviderHold; paused: boolean }> {
  return db.transaction().execute(async (trx) => {
    const row = await lockProvider(trx, request.provider);
    const kinds = await servedKinds(trx, request.provider, request.kinds, row.kinds as JobKind[]);
    if (row.status === 'PAUSED') {
      // Already paused: a spend limit outlasts any timed pause; a timed one lasts as long as the longest wait asked.
      const spend = request.limit === 'spend_limit' || row.resume_at === null;
      const wait = spend ? null : waitMs(request, row.overload_streak, settings);
      const updated = await trx
        .updateTable('providers')
        .set({
          kinds,
          updated_at: sql`now()`,
          ...(request.limit === 'spend_limit' ? { reason: 'spend_limit', message: request.message } : {}),
          resume_at: spend ? null : sql`greatest(resume_at, now() + ${wait} * interval '1 millisecond')`,
        })
        .where('id', '=', row.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      return { hold: holdOf(updated), paused: false };
    }
    // Overloads in a row double the wait; one that comes long after the last pause ended starts again.
    const recent = row.resume_at !== null && Date.now() - row.resume_at.getTime() < settings.backoffMaxMs;
    const streak = request.limit === 'overloaded' ? (recent ? row.overload_streak + 1 : 1) : 0;
    const wait = request.limit === 'spend_limit' ? null : waitMs(request, streak, settings);
    const change = await transition(
      trx,
      providerMachine,
      {
        id: row.id,
        from: 'ACTIVE',
        to: 'PAUSED',
        trigger: TRIGGER[request.limit],
        set: { reason: request.limit, message: request.message, kinds, overload_streak: streak },
        // What the pause was, as it was: a replayed event shows this rather than the row's present.
        context: {
          actorTokenId: request.actorTokenId,
          reason: describePause(request, wait),
          artifacts: {
            name: request.provider,
            reason: request.limit,
            message: request.message,
            until: wait === null ? null : new Date(Date.now() + wait).toISOString(),
          },
        },
      },
      {
        setSql: {
          paused_at: sql`now()`,
          resume_at: wait === null ? sql`NULL` : sql`now() + ${wait} * interval '1 millisecond'`,
          pause_count: sql`t.pause_count + 1`,
        },
      },
    );
    return { hold: holdOf(change.row as ProviderRow), paused: true };
  });
}

function waitMs(request: PauseRequest, streak: number, settings: PauseSettings): number {
  if (request.limit === 'overloaded') return Math.max(request.retryAfterMs ?? 0, overloadWaitMs(streak, settings));
  return request.retryAfterMs ?? settings.rateLimitDefaultMs;
}

function describePause(request: PauseRequest, wait: number | null): string {
  const what = { rate_limit: 'rate limited', overloaded: 'overloaded', spend_limit: 'spend limit reached' }[request.limit];
  const until = wait === null ? 'until an admin resumes it' : `for ${wait} ms`;
  return `${request.provider} ${what} (${request.message}); its kinds wait ${until}`;
}

/** The provider's row, created ACTIVE the first time it is met, locked for this transaction. */
async function lockProvider(trx: Trx, name: string): Promise<ProviderRow> {
  // Two workers meeting a new provider at once must not both create it.
  await sql`SELECT pg_advisory_xact_lock(hashtext(${`jobfleet:provider:${name}`}))`.execute(trx);
  const row = await trx.selectFrom('providers').selectAll().where('name', '=', name).forUpdate().executeTakeFirst();
  if (row) return row;
  return (await createEntity(trx, providerMachine, { name }, { reason: 'first met' })).row as ProviderRow;
}

/** Every kind the provider serves across the fleet: its live workers' kinds, and what is already held. */
async function servedKinds(trx: Trx, provider: string, own: readonly JobKind[], held: readonly JobKind[]): Promise<JobKind[]> {
  const workers = await trx
    .selectFrom('workers')
    .select('kinds')
    .where('provider', '=', provider)
    .where('stopped_at', 'is', null)
    .execute();
  return [...new Set([...own, ...held, ...workers.flatMap((worker) => worker.kinds as JobKind[])])].sort();
}

/** Ends a pause; answers the row, or null when it was not paused (nothing to do). */
export async function resumeProvider(
  db: Db,
  name: string,
  how: { trigger: 'admin_resumes' | 'pause_ended'; actorTokenId: string | null },
): Promise<{ row: ProviderRow; resumed: boolean }> {
  return db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('providers').selectAll().where('name', '=', name).forUpdate().executeTakeFirst();
    if (!row) throw new AppError('not_found', `provider ${name} does not exist (no limit was ever met from it)`, { name });
    if (row.status !== 'PAUSED') return { row, resumed: false };
    const change = await transition(trx, providerMachine, {
      id: row.id,
      from: 'PAUSED',
      to: 'ACTIVE',
      trigger: how.trigger,
      by: how.trigger === 'admin_resumes' ? 'user' : 'system',
      // An admin's resume starts the overload backoff again.
      set: how.trigger === 'admin_resumes' ? { overload_streak: 0 } : {},
      context: {
        actorTokenId: how.actorTokenId,
        reason: how.trigger === 'admin_resumes' ? 'resumed by an admin' : 'the time to wait has passed',
      },
    });
    return { row: change.row as ProviderRow, resumed: true };
  });
}

/** Ends every timed pause whose time has passed (the sweeper); answers the providers resumed. */
export async function endDuePauses(db: Db): Promise<ProviderRow[]> {
  return db.transaction().execute(async (trx) => {
    const due = await trx
      .selectFrom('providers')
      .selectAll()
      .where('status', '=', 'PAUSED')
      .where('resume_at', '<=', sql<Date>`now()`)
      .orderBy('id')
      .forUpdate()
      .skipLocked()
      .execute();
    const { applied } = await transitionMany(
      trx,
      providerMachine,
      due.map((row) => ({
        id: row.id,
        from: 'PAUSED' as const,
        to: 'ACTIVE' as const,
        trigger: 'pause_ended',
        context: { reason: 'the time to wait has passed' },
      })),
    );
    return applied.map((change) => change.row as ProviderRow);
  });
}

export async function listProviders(db: Executor): Promise<ProviderRow[]> {
  return db.selectFrom('providers').selectAll().orderBy('name').execute();
}

export async function pausedProviders(db: Executor): Promise<ProviderRow[]> {
  return db.selectFrom('providers').selectAll().where('status', '=', 'PAUSED').orderBy('name').execute();
}
