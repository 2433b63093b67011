/**
 * Ideas: the resource itself, and the flow draft -> grill -> plan -> materialize (with retries
 * from grill_failed and plan_failed, and a chat about the plan). Grill, plan and chat enqueue a
 * job and answer 202 with it; materialize creates the PBI tree and answers 201.
 */
import { z } from '@hono/zod-openapi';
import { callerOf } from '../../auth/caller.js';
import { enqueuerOf } from '../enqueuer.js';
import { getVisibleRow, listVisibleRows } from '../../backlog/backlog-rows.js';
import { materializePlan } from '../../backlog/materialize-plan.js';
import { visibleOwnership } from '../../backlog/ownership.js';
import { AppError } from '../../errors/app-error.js';
import { enqueueJobs, insertJobs, queueInserted } from '../../jobs/enqueue-jobs.js';
import { ideaMachine } from '../../machines/index.js';
import type { JobKind } from '../../queues/kinds.js';
import { ideaStatus } from '../../spelling/api-spelling.js';
import { createEntity, transition } from '../../transitions/index.js';
import type { ApiDeps } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { answerOnce, IdempotencyHeaders } from '../idempotent-answer.js';
import { createRouter } from '../router.js';
import {
  Idea,
  IdeaLogEntry,
  IdeaUpdate,
  NewIdea,
  Pbi,
  Story,
  Task,
  toApiIdea,
  toApiIdeaLog,
  toApiPbi,
  toApiStory,
  toApiTask,
} from '../schemas/backlog.schemas.js';
import {
  apiEnumList,
  Cursor,
  errorResponses,
  IdParam,
  json,
  Limit,
  nextCursor,
  pageAfter,
  pageOf,
  Uuid,
} from '../schemas/common.schemas.js';
import { Job, toApiJob } from '../schemas/job.schemas.js';
import { TRANSITIONS_DESCRIPTION, transitionBody } from '../schemas/transition.schemas.js';
import { rowRoutes } from './row.routes.js';
import { statusRoutes } from './status.routes.js';

const GrillBody = z.object({ answers: z.string().trim().min(1).max(50_000).optional() }).strict();
const PlanBody = z.object({ guidance: z.string().trim().min(1).max(20_000).optional() }).strict();
const ChatBody = z.object({ message: z.string().trim().min(1, { error: 'must not be empty' }).max(20_000) }).strict();

const tags = ['ideas'];
const IdeaQuery = z.object({ product_id: Uuid.optional(), status: apiEnumList(ideaStatus).optional(), limit: Limit, cursor: Cursor });

const Materialized = z
  .object({
    idea: Idea,
    pbis: z.array(Pbi.extend({ stories: z.array(Story.extend({ tasks: z.array(Task) })) })),
  })
  .openapi('MaterializedPlan');

export function ideaRoutes(deps: ApiDeps) {
  const app = createRouter();

  app.openapi(
    authedRoute(['write'], {
      method: 'post',
      path: '/ideas',
      tags,
      summary: 'Create a idea',
      request: { body: { content: { 'application/json': { schema: NewIdea } }, required: true } },
      responses: { 201: json(Idea, 'The new idea'), ...errorResponses(404, 409, 413, 422) },
    }),
    async (c) => {
      const caller = callerOf(c);
      const body = c.req.valid('json');
      const row = await deps.db.transaction().execute(async (trx) => {
        await visibleOwnership(trx, 'PRODUCT', body.product_id, caller.ownerId);
        const values = { product_id: body.product_id, title: body.title, prompt_text: body.prompt_text ?? '' };
        return (await createEntity(trx, ideaMachine, values, { actorTokenId: caller.actorTokenId })).row;
      });
      return c.json(toApiIdea(row), 201);
    },
  );

  app.openapi(
    authedRoute(['read'], {
      method: 'get',
      path: '/ideas',
      tags,
      summary: 'List ideas, newest first',
      request: { query: IdeaQuery },
      responses: { 200: json(pageOf(Idea), 'A page of ideas'), ...errorResponses(422) },
    }),
    async (c) => {
      const { product_id, status, limit, cursor } = c.req.valid('query');
      const after = pageAfter(cursor);
      const page = await listVisibleRows(deps.db, 'IDEA', {
        equals: { product_id },
        statuses: status,
        ownerId: callerOf(c).ownerId,
        page: { limit, after },
      });
      return c.json({ items: page.items.map(toApiIdea), next_cursor: nextCursor(page) }, 200);
    },
  );

  app.route(
    '/',
    rowRoutes(deps, {
      entity: 'IDEA',
      path: 'ideas',
      noun: 'idea',
      schema: Idea,
      toApi: toApiIdea,
      update: IdeaUpdate,
      // Locked: the idea must not become planned between this check and the edit.
      async beforeEdit(trx, id) {
        const { status } = await trx.selectFrom('ideas').select('status').where('id', '=', id).forUpdate().executeTakeFirstOrThrow();
        if (status === 'PLANNED') {
          throw new AppError('status_conflict', `idea ${id} is planned; its backlog items are edited instead`, {
            current: ideaStatus.toApi(status),
          });
        }
      },
    }),
  );

  app.route(
    '/',
    statusRoutes(deps, {
      entity: 'IDEA',
      path: 'ideas',
      noun: 'idea',
      machine: ideaMachine,
      spelling: ideaStatus,
      scopes: ['read'],
      statusOf: async (id, caller) => (await getVisibleRow(deps.db, 'IDEA', id, caller.ownerId)).status,
    }),
  );

  app.openapi(
    authedRoute(['write'], {
      method: 'post',
      path: '/ideas/{id}/transitions',
      tags,
      summary: 'Move a idea to another status',
      description: TRANSITIONS_DESCRIPTION,
      request: { params: IdParam, body: { content: { 'application/json': { schema: transitionBody(ideaStatus) } }, required: true } },
      responses: { 200: json(Idea, 'The idea in its new status'), ...errorResponses(404, 409, 422) },
    }),
    async (c) => {
      const caller = callerOf(c);
      const { id } = c.req.valid('param');
      const { to, reason } = c.req.valid('json');
      await visibleOwnership(deps.db, 'IDEA', id, caller.ownerId);
      await deps.db.transaction().execute(async (trx) => {
        const { status } = await trx.selectFrom('ideas').select('status').where('id', '=', id).forUpdate().executeTakeFirstOrThrow();
        const context = { actorTokenId: caller.actorTokenId, reason: reason ?? null };
        await transition(trx, ideaMachine, { id, from: status, to: ideaStatus.fromApi(to)!, by: 'user', context });
      });
      return c.json(toApiIdea(await getVisibleRow(deps.db, 'IDEA', id, caller.ownerId)), 200);
    },
  );

  const enqueueRoute = (path: string, kind: JobKind, summary: string, body: z.ZodObject) =>
    app.openapi(
      authedRoute(['enqueue'], {
        method: 'post',
        path: `/ideas/{id}/${path}`,
        tags,
        summary,
        request: {
          params: IdParam,
          headers: IdempotencyHeaders,
          body: { content: { 'application/json': { schema: body } }, required: false },
        },
        responses: { 202: json(Job, 'The job, queued'), ...errorResponses(404, 409, 413, 422) },
      }),
      async (c) => {
        const caller = enqueuerOf(c, deps);
        const { id } = c.req.valid('param');
        await visibleOwnership(deps.db, 'IDEA', id, caller.ownerId);
        const payload = definedFields(c.req.valid('json'));
        const key = c.req.valid('header')['idempotency-key'];
        if (key) {
          return answerOnce(deps, c, key, payload, async (trx) => {
            const inserted = await insertJobs(trx, [{ kind, subjectId: id, payload }], caller);
            return { status: 202, body: toApiJob(inserted.created[0]!), afterCommit: () => queueInserted(deps, inserted) };
          });
        }
        const [job] = await enqueueJobs(deps, [{ kind, subjectId: id, payload }], caller);
        return c.json(toApiJob(job!), 202);
      },
    );

  enqueueRoute('grill', 'IDEA_GRILL', 'Grill the idea (from draft, or again from grill_failed)', GrillBody);
  enqueueRoute('plan', 'IDEA_MAKE_PLAN', 'Plan the idea (from grilled, or again from plan_failed)', PlanBody);
  enqueueRoute('chat', 'PLAN_CHAT', "Send a message about the plan; the agent's reply lands in the idea's log", ChatBody);

  app.openapi(
    authedRoute(['write'], {
      method: 'post',
      path: '/ideas/{id}/materialize',
      tags,
      summary: "Create the plan's PBIs, stories and tasks in one transaction; the idea becomes planned",
      request: { params: IdParam },
      responses: { 201: json(Materialized, 'The idea and the tree it became'), ...errorResponses(404, 409) },
    }),
    async (c) => {
      const caller = callerOf(c);
      const { id } = c.req.valid('param');
      await visibleOwnership(deps.db, 'IDEA', id, caller.ownerId);
      const tree = await deps.db.transaction().execute((trx) => materializePlan(trx, id, caller.actorTokenId));
      const idea = await deps.db.selectFrom('ideas').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      return c.json(
        {
          idea: toApiIdea(idea),
          pbis: tree.pbis.map((pbi) => ({
            ...toApiPbi(pbi),
            stories: pbi.stories.map((story) => ({ ...toApiStory(story), tasks: story.tasks.map(toApiTask) })),
          })),
        },
        201,
      );
    },
  );

  app.openapi(
    authedRoute(['read'], {
      method: 'get',
      path: '/ideas/{id}/logs',
      tags,
      summary: "The idea's log: grill and plan results, job events, the chat; oldest first",
      request: { params: IdParam },
      responses: { 200: json(z.object({ items: z.array(IdeaLogEntry) }), 'The log'), ...errorResponses(404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await visibleOwnership(deps.db, 'IDEA', id, callerOf(c).ownerId);
      const logs = await deps.db
        .selectFrom('idea_logs')
        .selectAll()
        .where('idea_id', '=', id)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return c.json({ items: logs.map(toApiIdeaLog) }, 200);
    },
  );

  return app;
}

/** The fields of a body that were sent: a job's payload holds no undefined values. */
function definedFields(body: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined));
}
