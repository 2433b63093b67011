/**
 * The routes every backlog resource has, generated from one definition so that they behave the
 * same everywhere: create, read, list (filters, pagination), edit (editable fields only) and,
 * for resources with a state machine, history, valid transitions and user transitions.
 */
import { type z, z as zod } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { ownerScope, type Scope } from '../../auth/principal.js';
import { getVisibleRow, listVisibleRows, TABLE_OF } from '../../backlog/backlog-rows.js';
import { type OwnedEntity, visibleOwnership } from '../../backlog/ownership.js';
import type { Trx } from '../../db/database.js';
import { isPagePosition } from '../../db/pagination.js';
import { AppError } from '../../errors/app-error.js';
import { type AnyMachine, type EntityType, MACHINES, type TriggeredBy } from '../../machines/index.js';
import { STATUS_SPELLING } from '../../spelling/api-spelling.js';
import { createEntity, listHistory, transition } from '../../transitions/index.js';
import type { ApiDeps, ApiEnv } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { createRouter } from '../router.js';
import { History, toApiHistory } from '../schemas/history.schemas.js';
import { apiEnumList, Cursor, decodeCursor, encodeCursor, errorResponses, IdParam, json, Limit } from '../schemas/common.schemas.js';

export interface Caller {
  actorTokenId: string;
  /** The owner whose rows the caller sees, or null for all. */
  ownerId: string | null;
}

export function callerOf(c: Context<ApiEnv>): Caller {
  const principal = c.get('principal');
  return { actorTokenId: principal.tokenId, ownerId: ownerScope(principal) };
}

type BacklogEntity = keyof typeof TABLE_OF;

/** A patch or create body without the fields it leaves out. */
export const editable = (body: Record<string, unknown>) => Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined));

/**
 * A create route's row, made under a parent the caller can see: a hidden or missing parent
 * answers 404 before anything is written.
 */
export async function createUnder(
  trx: Trx,
  caller: Caller,
  parent: { entity: OwnedEntity; id: string },
  entity: BacklogEntity,
  values: Record<string, unknown>,
): Promise<unknown> {
  await visibleOwnership(trx, parent.entity, parent.id, caller.ownerId);
  return (await createEntity(trx, MACHINES[entity as EntityType], values as never, { actorTokenId: caller.actorTokenId })).row;
}

export interface ResourceDefinition<E extends BacklogEntity> {
  entity: E;
  /** The URL segment: /api/v1/{path}. */
  path: string;
  /** Singular noun for summaries. */
  noun: string;
  schema: z.ZodType;
  toApi(row: any): unknown;
  /** Replaces toApi when a response needs more than the row (a run's progress): one call per page. */
  present?(deps: ApiDeps, rows: any[]): Promise<unknown[]>;
  create?: { body: z.ZodType; run(trx: Trx, body: any, caller: Caller): Promise<unknown> };
  update?: { body: z.ZodType; run(trx: Trx, row: any, body: any, caller: Caller): Promise<unknown> };
  /** Query filters (equality on columns, by their API name = column name); status is added when there is a machine. */
  filters?: Record<string, z.ZodType>;
  /** Extra fields a user transition may carry, and what they write (stories: sprint_id). */
  transitionExtras?: {
    fields: Record<string, z.ZodType>;
    prepare(trx: Trx, row: any, to: string, body: any, caller: Caller): Promise<Record<string, unknown>>;
  };
  /** Replaces the plain door call for user transitions (jobs: cancel; sprint runs: pause/resume/cancel). */
  applyTransition?(deps: ApiDeps, id: string, to: string, reason: string | null, caller: Caller): Promise<void>;
  scopes?: { read?: Scope[]; write?: Scope[] };
}

export function resourceRoutes<E extends BacklogEntity>(deps: ApiDeps, def: ResourceDefinition<E>) {
  const app = createRouter();
  const read = def.scopes?.read ?? ['read'];
  const write = def.scopes?.write ?? ['write'];
  const tags = [def.path];
  const machine = def.entity in MACHINES ? (MACHINES[def.entity as EntityType] as AnyMachine) : null;
  const load = (id: string, caller: Caller) => getVisibleRow(deps.db, def.entity, id, caller.ownerId);
  const present = async (rows: any[]) => (def.present ? def.present(deps, rows) : rows.map(def.toApi));
  const presentOne = async (row: any) => (await present([row]))[0];

  if (def.create) {
    const create = def.create;
    app.openapi(
      authedRoute(write, {
        method: 'post',
        path: `/${def.path}`,
        tags,
        summary: `Create a ${def.noun}`,
        request: { body: { content: { 'application/json': { schema: create.body } }, required: true } },
        responses: { 201: json(def.schema, `The new ${def.noun}`), ...errors(404, 409, 413, 422) },
      }),
      async (c) => {
        const caller = callerOf(c);
        const row = await deps.db.transaction().execute((trx) => create.run(trx, c.req.valid('json' as never), caller));
        return c.json((await presentOne(row)) as never, 201);
      },
    );
  }

  const statusFilter = machine ? { status: apiEnumList(STATUS_SPELLING[def.entity as EntityType]).optional() } : {};
  const ListQuery = zod.object({ ...(def.filters ?? {}), ...statusFilter, limit: Limit, cursor: Cursor });
  app.openapi(
    authedRoute(read, {
      method: 'get',
      path: `/${def.path}`,
      tags,
      summary: `List ${def.path}, newest first`,
      request: { query: ListQuery },
      responses: { 200: json(zod.object({ items: zod.array(def.schema), next_cursor: zod.string().nullable() }), `A page of ${def.path}`), ...errors(422) },
    }),
    async (c) => {
      const query = c.req.valid('query' as never) as Record<string, any>;
      const after = decodeCursor(query.cursor, isPagePosition);
      if (after === null) throw new AppError('validation_failed', 'invalid cursor: pass next_cursor from a previous page', { issues: [{ path: 'cursor', message: 'not a cursor' }] });
      const equals = Object.fromEntries(Object.keys(def.filters ?? {}).map((name) => [name, query[name] as string | undefined]));
      const page = await listVisibleRows(deps.db, def.entity, { equals, statuses: query.status, ownerId: callerOf(c).ownerId, page: { limit: query.limit, after } });
      return c.json({ items: await present(page.items), next_cursor: page.next ? encodeCursor(page.next) : null } as never, 200);
    },
  );

  app.openapi(
    authedRoute(read, {
      method: 'get',
      path: `/${def.path}/{id}`,
      tags,
      summary: `A ${def.noun}`,
      request: { params: IdParam },
      responses: { 200: json(def.schema, `The ${def.noun}`), ...errors(404) },
    }),
    async (c) => c.json((await presentOne(await load(c.req.valid('param').id, callerOf(c)))) as never, 200),
  );

  if (def.update) {
    const update = def.update;
    app.openapi(
      authedRoute(write, {
        method: 'patch',
        path: `/${def.path}/{id}`,
        tags,
        summary: `Edit a ${def.noun} (statuses change only through transitions)`,
        request: { params: IdParam, body: { content: { 'application/json': { schema: update.body } }, required: true } },
        responses: { 200: json(def.schema, `The ${def.noun}, edited`), ...errors(404, 409, 413, 422) },
      }),
      async (c) => {
        const caller = callerOf(c);
        const { id } = c.req.valid('param');
        const body = c.req.valid('json' as never);
        const row = await deps.db.transaction().execute(async (trx) => {
          await visibleOwnership(trx, def.entity, id, caller.ownerId);
          const current = await trx.selectFrom(TABLE_OF[def.entity] as 'pbis').selectAll().where('id', '=', id).forUpdate().executeTakeFirstOrThrow();
          return update.run(trx, current, body, caller);
        });
        return c.json((await presentOne(row)) as never, 200);
      },
    );
  }

  if (machine) addTransitionRoutes(app, deps, def, machine, read, write, load, presentOne);
  return app;
}

function addTransitionRoutes<E extends BacklogEntity>(
  app: ReturnType<typeof createRouter>,
  deps: ApiDeps,
  def: ResourceDefinition<E>,
  machine: AnyMachine,
  read: Scope[],
  write: Scope[],
  load: (id: string, caller: Caller) => Promise<any>,
  presentOne: (row: any) => Promise<unknown>,
) {
  const entity = def.entity as EntityType;
  const spelling = STATUS_SPELLING[entity] as { apiValues: readonly string[]; toApi(s: string): string; fromApi(v: unknown): string | null };
  const tags = [def.path];

  app.openapi(
    authedRoute(read, {
      method: 'get',
      path: `/${def.path}/{id}/history`,
      tags,
      summary: `Every status change of a ${def.noun}, oldest first`,
      request: { params: IdParam },
      responses: { 200: json(History, 'The history'), ...errors(404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await visibleOwnership(deps.db, def.entity, id, callerOf(c).ownerId);
      return c.json({ items: (await listHistory(deps.db, entity, id)).map(toApiHistory) }, 200);
    },
  );

  app.openapi(
    authedRoute(read, {
      method: 'get',
      path: `/${def.path}/{id}/valid-transitions`,
      tags,
      summary: `What a user may move a ${def.noun} to from its current status`,
      request: { params: IdParam },
      responses: { 200: json(ValidTransitions, 'The current status, the user transitions from it, and what the system may do'), ...errors(404) },
    }),
    async (c) => {
      const row = await load(c.req.valid('param').id, callerOf(c));
      return c.json(validTransitions(machine, spelling, row.status), 200);
    },
  );

  const TransitionBody = zod
    .object({
      to: zod.enum(spelling.apiValues as [string, ...string[]], { error: `must be one of ${spelling.apiValues.join(', ')}` }),
      reason: zod.string().trim().min(1).max(2_000).optional(),
      ...(def.transitionExtras?.fields ?? {}),
    })
    .strict();
  app.openapi(
    authedRoute(write, {
      method: 'post',
      path: `/${def.path}/{id}/transitions`,
      tags,
      summary: `Move a ${def.noun} to another status`,
      description: 'Only transitions a user may trigger; the others answer 409 saying what triggers them.',
      request: { params: IdParam, body: { content: { 'application/json': { schema: TransitionBody } }, required: true } },
      responses: { 200: json(def.schema, `The ${def.noun} in its new status`), ...errors(404, 409, 422) },
    }),
    async (c) => {
      const caller = callerOf(c);
      const { id } = c.req.valid('param');
      const body = c.req.valid('json' as never) as { to: string; reason?: string } & Record<string, unknown>;
      const to = spelling.fromApi(body.to)!;
      await visibleOwnership(deps.db, def.entity, id, caller.ownerId);
      if (def.applyTransition) {
        await def.applyTransition(deps, id, to, body.reason ?? null, caller);
      } else {
        await deps.db.transaction().execute(async (trx) => {
          const row = await trx.selectFrom(TABLE_OF[def.entity] as 'pbis').selectAll().where('id', '=', id).forUpdate().executeTakeFirstOrThrow();
          const rule = machine.assertTransition(row.status as never, to as never, { by: 'user' as TriggeredBy });
          const set = def.transitionExtras ? await def.transitionExtras.prepare(trx, row, to, body, caller) : {};
          await transition(trx, machine, {
            id,
            from: row.status as never,
            to: to as never,
            trigger: rule.trigger,
            by: 'user',
            set: set as never,
            context: { actorTokenId: caller.actorTokenId, reason: body.reason ?? null },
          });
        });
      }
      return c.json((await presentOne(await load(id, caller))) as never, 200);
    },
  );
}

export const ValidTransitions = zod
  .object({
    status: zod.string(),
    transitions: zod.array(zod.object({ to: zod.string(), trigger: zod.string(), description: zod.string() })),
    system_transitions: zod.array(zod.object({ to: zod.string(), trigger: zod.string(), description: zod.string() })),
  })
  .openapi('ValidTransitions');

export function validTransitions(machine: AnyMachine, spelling: { toApi(s: string): string }, status: string) {
  const rules = machine.transitions.filter((rule) => rule.from === status);
  const view = (rule: (typeof rules)[number]) => ({ to: spelling.toApi(rule.to), trigger: rule.trigger, description: rule.description });
  return {
    status: spelling.toApi(status),
    transitions: rules.filter((rule) => rule.by === 'user').map(view),
    system_transitions: rules.filter((rule) => rule.by === 'system').map(view),
  };
}

const errors = (...statuses: (404 | 409 | 413 | 422)[]) => errorResponses(...statuses);
