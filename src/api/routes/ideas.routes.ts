/**
 * Ideas: the resource itself, and the flow draft -> grill -> plan -> materialize (with retries
 * from grill_failed and plan_failed, and a chat about the plan). Grill, plan and chat enqueue a
 * job and answer 202 with it; materialize creates the PBI tree and answers 201.
 */
import { z } from '@hono/zod-openapi';
import { updateColumns } from '../../backlog/backlog-rows.js';
import { materializePlan } from '../../backlog/materialize-plan.js';
import { visibleOwnership } from '../../backlog/ownership.js';
import { AppError } from '../../errors/app-error.js';
import { enqueueJobs, insertJobs, queueInserted } from '../../jobs/enqueue-jobs.js';
import type { JobKind } from '../../queues/kinds.js';
import { ideaStatus } from '../../spelling/api-spelling.js';
import type { ApiDeps } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { answerOnce, IdempotencyHeaders } from '../idempotent-answer.js';
import { Idea, IdeaLogEntry, IdeaUpdate, NewIdea, Pbi, Story, Task, toApiIdea, toApiIdeaLog, toApiPbi, toApiStory, toApiTask } from '../schemas/backlog.schemas.js';
import { errorResponses, IdParam, json, Uuid } from '../schemas/common.schemas.js';
import { Job, toApiJob } from '../schemas/job.schemas.js';
import { type Caller, callerOf, createUnder, editable, resourceRoutes } from './resource-routes.js';

const GrillBody = z.object({ answers: z.string().trim().min(1).max(50_000).optional() }).strict();
const PlanBody = z.object({ guidance: z.string().trim().min(1).max(20_000).optional() }).strict();
const ChatBody = z.object({ message: z.string().trim().min(1, { error: 'must not be empty' }).max(20_000) }).strict();

const Materialized = z
  .object({
    idea: Idea,
    pbis: z.array(Pbi.extend({ stories: z.array(Story.extend({ tasks: z.array(Task) })) })),
  })
  .openapi('MaterializedPlan');

export function ideaRoutes(deps: ApiDeps) {
  const app = resourceRoutes(deps, {
    entity: 'IDEA',
    path: 'ideas',
    noun: 'idea',
    schema: Idea,
    toApi: toApiIdea,
    filters: { product_id: Uuid.optional() },
    create: {
      body: NewIdea,
      async run(trx, body: z.infer<typeof NewIdea>, caller: Caller) {
        return createUnder(trx, caller, { entity: 'PRODUCT', id: body.product_id }, 'IDEA', { product_id: body.product_id, title: body.title, prompt_text: body.prompt_text ?? '' });
      },
    },
    update: {
      body: IdeaUpdate,
      async run(trx, row, body) {
        if (row.status === 'PLANNED') {
          throw new AppError('status_conflict', `idea ${row.id} is planned; its backlog items are edited instead`, { current: ideaStatus.toApi(row.status) });
        }
        return updateColumns(trx, 'IDEA', row.id, editable(body));
      },
    },
  });

  const enqueueRoute = (path: string, kind: JobKind, summary: string, body: z.ZodObject) =>
    app.openapi(
      authedRoute(['enqueue'], {
        method: 'post',
        path: `/ideas/{id}/${path}`,
        tags: ['ideas'],
        summary,
        request: { params: IdParam, headers: IdempotencyHeaders, body: { content: { 'application/json': { schema: body } }, required: false } },
        responses: { 202: json(Job, 'The job, queued'), ...errorResponses(404, 409, 413, 422) },
      }),
      async (c) => {
        const caller = callerOf(c);
        const { id } = c.req.valid('param');
        await visibleOwnership(deps.db, 'IDEA', id, caller.ownerId);
        const payload = editable(c.req.valid('json') as Record<string, unknown>);
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
  enqueueRoute('chat', 'PLAN_CHAT', 'Send a message about the plan; the agent\'s reply lands in the idea\'s log', ChatBody);

  app.openapi(
    authedRoute(['write'], {
      method: 'post',
      path: '/ideas/{id}/materialize',
      tags: ['ideas'],
      summary: 'Create the plan\'s PBIs, stories and tasks in one transaction; the idea becomes planned',
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
      tags: ['ideas'],
      summary: 'The idea\'s log: grill and plan results, job events, the chat; oldest first',
      request: { params: IdParam },
      responses: { 200: json(z.object({ items: z.array(IdeaLogEntry) }), 'The log'), ...errorResponses(404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await visibleOwnership(deps.db, 'IDEA', id, callerOf(c).ownerId);
      const logs = await deps.db.selectFrom('idea_logs').selectAll().where('idea_id', '=', id).orderBy('created_at').orderBy('id').execute();
      return c.json({ items: logs.map(toApiIdeaLog) }, 200);
    },
  );

  return app;
}
