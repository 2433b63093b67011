/**
 * The one door for status changes. Every status column of jobfleet is written here and nowhere
 * else (the table types make `status` unwritable through the query builder).
 *
 * A change is a guarded update (`WHERE id = ? AND status = <from>`, plus any guard columns such
 * as the claim epoch), one history row per edge taken, and the cascades the change sets off,
 * all in the caller's transaction. The guard is what makes a second delivery harmless: the
 * loser of a race updates no row and gets a typed error (or, in a batch, a refusal).
 *
 * Batches are first-class because the job pipeline coalesces the transitions of concurrent
 * jobs: one statement updates every row of a batch and writes all of its history rows.
 */
import { type RawBuilder, sql } from 'kysely';
import type { Selectable } from 'kysely';
import type { Database, Trx } from '../db/database.js';
import type { JsonValue } from '../db/column-types.js';
import { jsonDocument } from '../db/json-document.js';
import { AppError } from '../errors/app-error.js';
import type { AnyMachine, TriggeredBy } from '../machines/index.js';
import { runCascades } from './cascades/index.js';
import { notifyHistory } from './history-notice.js';
import type { AppliedTransition, TransitionContext } from './transition-types.js';

export type { AppliedTransition, TransitionContext } from './transition-types.js';

type TableOf<M extends AnyMachine> = M['table'];
type RowOf<M extends AnyMachine> = Selectable<Database[TableOf<M>]>;
type StatusOfMachine<M extends AnyMachine> = M['statuses'][number];

export interface TransitionRequest<M extends AnyMachine = AnyMachine> {
  id: string;
  /** The status the row must be in; the update is guarded on it. */
  from: StatusOfMachine<M>;
  to: StatusOfMachine<M>;
  /**
   * Statuses passed through on the way, when several edges are taken in one statement (a
   * claim that starts at once: QUEUED -> CLAIMED -> RUNNING). Each edge is checked and gets
   * its own history row.
   */
  via?: readonly StatusOfMachine<M>[];
  /** The trigger of the last edge; may be left out when that edge has only one. */
  trigger?: string;
  /** 'user' when a user asked for the change through the API: system-only edges are refused. */
  by?: TriggeredBy;
  /** Columns written with the status, as JSON values; Postgres converts them to column types. */
  set?: Record<string, JsonValue | undefined>;
  /**
   * Numeric columns raised by these amounts with the status (NULL counts as 0): usage an agent
   * reported while it ran is already on the row, and the final figures add to it.
   */
  add?: Record<string, number>;
  /** Columns that must hold these values for the change to apply (claim epoch, claiming token). */
  guard?: Record<string, JsonValue>;
  context?: TransitionContext;
}

export interface BatchOptions {
  /** SQL expressions written for every row of the batch (`claim_epoch + 1`, `now()`); `t` is the row. */
  setSql?: Record<string, RawBuilder<unknown>>;
}

/** An applied transition with the request it answers (a batch may hold several for one row). */
export interface Applied<M extends AnyMachine> extends AppliedTransition<RowOf<M>> {
  request: TransitionRequest<M>;
}

export interface BatchOutcome<M extends AnyMachine> {
  applied: Applied<M>[];
  /** Requests whose row was missing, in another status, or failed a guard. */
  refused: TransitionRequest<M>[];
}

interface Hop {
  from: string;
  to: string;
  trigger: string;
}

/** The hops of each distinct path, checked once per batch however many requests take it. */
function hopsOf(machine: AnyMachine, request: TransitionRequest, known: Map<string, Hop[]>): Hop[] {
  const path = [request.from, ...(request.via ?? []), request.to] as string[];
  const key = `${path.join('>')}|${request.trigger ?? ''}|${request.by ?? ''}`;
  const cached = known.get(key);
  if (cached) return cached;
  const hops: Hop[] = [];
  for (let i = 0; i + 1 < path.length; i += 1) {
    const last = i + 2 === path.length;
    const options: { trigger?: string; by?: TriggeredBy } = {};
    if (last && request.trigger !== undefined) options.trigger = request.trigger;
    if (request.by !== undefined) options.by = request.by;
    const rule = (machine.assertTransition as (f: string, t: string, o: typeof options) => { trigger: string })(
      path[i]!,
      path[i + 1]!,
      options,
    );
    hops.push({ from: path[i]!, to: path[i + 1]!, trigger: rule.trigger });
  }
  known.set(key, hops);
  return hops;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
function column(name: string): RawBuilder<unknown> {
  // Column names come from code, never from requests; refuse anything that is not one.
  if (!IDENTIFIER.test(name) || name === 'status' || name === 'id') {
    throw new Error(`transition: ${name} cannot be written or guarded here`);
  }
  return sql.ref(`t.${name}`);
}

/**
 * Applies a batch of transitions of one machine in one statement. Requests that cannot apply
 * (missing row, other status, failed guard, or a second request for the same row) come back in
 * `refused`; edges the machine does not allow throw invalid_transition before anything is written.
 */
export async function transitionMany<M extends AnyMachine>(
  trx: Trx,
  machine: M,
  requests: readonly TransitionRequest<M>[],
  options: BatchOptions = {},
): Promise<BatchOutcome<M>> {
  const seen = new Set<string>();
  const unique: TransitionRequest<M>[] = [];
  const refused: TransitionRequest<M>[] = [];
  // Rows are locked in id order, so two batches that share rows cannot deadlock on each other.
  const ordered = [...requests].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const request of ordered) {
    if (seen.has(request.id)) refused.push(request);
    else {
      seen.add(request.id);
      unique.push(request);
    }
  }
  if (unique.length === 0) return { applied: [], refused };

  const paths = new Map<string, Hop[]>();
  const hops = unique.map((request) => hopsOf(machine, request as TransitionRequest, paths));
  const setColumns = [...new Set(unique.flatMap((r) => Object.keys(r.set ?? {})))];
  const addColumns = [...new Set(unique.flatMap((r) => Object.keys(r.add ?? {})))];
  const guardColumns = [...new Set(unique.flatMap((r) => Object.keys(r.guard ?? {})))];
  const table = sql.table(machine.table);

  const assignments: RawBuilder<unknown>[] = [sql`status = req.to_status`, sql`updated_at = now()`];
  for (const name of setColumns) {
    column(name);
    assignments.push(sql`${sql.id(name)} = CASE WHEN req.patch ? ${name} THEN (req.p).${sql.id(name)} ELSE ${column(name)} END`);
  }
  for (const name of addColumns) {
    if (setColumns.includes(name)) throw new Error(`transition: ${name} is both set and added to`);
    assignments.push(
      sql`${sql.id(name)} = CASE WHEN req.patch->'+' ? ${name} THEN coalesce(${column(name)}, 0) + (req.patch->'+'->>${name})::numeric ELSE ${column(name)} END`,
    );
  }
  for (const [name, expression] of Object.entries(options.setSql ?? {})) {
    if (setColumns.includes(name) || addColumns.includes(name)) throw new Error(`transition: ${name} is both set and setSql`);
    column(name);
    assignments.push(sql`${sql.id(name)} = ${expression}`);
  }
  const guards = guardColumns.map(
    (name) => sql`AND (NOT (req.guard ? ${name}) OR ${column(name)} IS NOT DISTINCT FROM (req.g).${sql.id(name)})`,
  );

  // The whole batch travels as one JSON document, parsed once by Postgres: eight array
  // parameters cost pg an escaped copy of every element (a tenth of a worker's allocations).
  const batch = jsonDocument(
    unique.map((r, index) => ({
      id: r.id,
      from_status: r.from,
      to_status: r.to,
      // The amounts to add travel inside the patch under "+", which names no column.
      patch: r.add ? { ...r.set, '+': r.add } : (r.set ?? {}),
      guard: r.guard ?? {},
      actor: r.context?.actorTokenId ?? null,
      reason: r.context?.reason ?? null,
      artifacts: r.context?.artifacts ?? null,
      hops: hops[index]!.map((hop) => [hop.from, hop.to, hop.trigger]),
    })),
  );

  const result = await sql<RowOf<M> & { __ord: string }>`
    WITH req AS (
      SELECT r.*, jsonb_populate_record(NULL::${table}, r.patch) AS p, jsonb_populate_record(NULL::${table}, r.guard) AS g
      FROM ROWS FROM (
        jsonb_to_recordset(${batch}::jsonb)
          AS (id uuid, from_status text, to_status text, patch jsonb, guard jsonb, actor uuid, reason text, artifacts jsonb, hops jsonb)
      ) WITH ORDINALITY AS r(id, from_status, to_status, patch, guard, actor, reason, artifacts, hops, ord)
    ),
    upd AS (
      UPDATE ${table} AS t
      SET ${sql.join(assignments)}
      FROM req
      -- The id list gives the planner the primary-key path whatever batch size it assumes (a
      -- generic plan takes jsonb_to_recordset for 100 rows, and would hash the table for that).
      WHERE t.id = req.id AND t.id = ANY(ARRAY(SELECT id FROM req)) AND t.status = req.from_status ${sql.join(guards, sql` `)}
      RETURNING t.*, req.ord AS __ord
    ),
    hist AS (
      INSERT INTO transitions (entity_type, entity_id, from_status, to_status, trigger, actor_token_id, reason, artifacts)
      SELECT ${machine.entity}, upd.id, hop.value->>0, hop.value->>1, hop.value->>2, req.actor, req.reason, req.artifacts
      FROM upd JOIN req ON req.ord = upd.__ord CROSS JOIN LATERAL jsonb_array_elements(req.hops) WITH ORDINALITY AS hop(value, seq)
      ORDER BY req.ord, hop.seq
      RETURNING id
    )
    -- The history rows' ids are not handed back: joined to the rows they belong to, they were most
    -- of this statement's time (a generic plan expects one row, so it regrouped every history
    -- row once per updated row: 25 of a 27 ms statement for 200 jobs), and no caller used them.
    SELECT upd.* FROM upd CROSS JOIN (SELECT ${notifyHistory('hist')} AS notified) AS notice
  `.execute(trx);

  const applied: Applied<M>[] = [];
  const appliedIndexes = new Set<number>();
  for (const { __ord, ...row } of result.rows) {
    const index = Number(__ord) - 1;
    appliedIndexes.add(index);
    const request = unique[index]!;
    applied.push({
      entity: machine.entity,
      row: row as unknown as RowOf<M>,
      from: request.from,
      to: request.to,
      hops: hops[index]!,
      context: request.context ?? {},
      request,
    });
  }
  unique.forEach((request, index) => {
    if (!appliedIndexes.has(index)) refused.push(request);
  });

  await runCascades(trx, applied as AppliedTransition[], { transition, transitionMany });
  return { applied, refused };
}

/**
 * Applies one transition; throws when it cannot: not_found (404), status_conflict (409, with
 * the current status and what is allowed from it), or invalid_transition (409).
 */
export async function transition<M extends AnyMachine>(
  trx: Trx,
  machine: M,
  request: TransitionRequest<M>,
  options: BatchOptions = {},
): Promise<Applied<M>> {
  const { applied } = await transitionMany(trx, machine, [request], options);
  if (applied[0]) return applied[0];
  throw await explainRefusal(trx, machine, request);
}

/** Why a guarded update matched no row, as the AppError a caller would answer with. */
export async function explainRefusal<M extends AnyMachine>(trx: Trx, machine: M, request: TransitionRequest<M>): Promise<AppError> {
  const current = (await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(machine.table)} WHERE id = ${request.id}`.execute(trx))
    .rows[0];
  const { noun } = machine;
  const spell = machine.spell as (status: string) => string;
  if (!current) return new AppError('not_found', `${noun} ${request.id} does not exist`, { entity: noun, id: request.id });
  const status = current.status as StatusOfMachine<M>;
  if (status !== request.from) {
    const allowed = (machine.allowedFrom as (s: string, by?: TriggeredBy) => string[])(status, request.by).map(spell);
    return new AppError(
      'status_conflict',
      `${noun} ${request.id} is ${spell(status)}, not ${spell(request.from)}; allowed next: ${allowed.length ? allowed.join(', ') : 'none (terminal)'}`,
      { entity: noun, id: request.id, current: spell(status), expected: spell(request.from), allowed },
    );
  }
  const mismatched = Object.entries(request.guard ?? {})
    .filter(([name, value]) => !sameValue(current[name], value))
    .map(([name]) => name);
  return new AppError('status_conflict', `${noun} ${request.id} failed its guard on ${mismatched.join(', ')}`, {
    entity: noun,
    id: request.id,
    current: spell(status),
    mismatched,
  });
}

function sameValue(actual: unknown, expected: JsonValue): boolean {
  if (actual === null || actual === undefined) return expected === null;
  if (actual instanceof Date) return actual.getTime() === new Date(expected as string).getTime();
  return String(actual) === String(expected);
}
