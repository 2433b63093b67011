/**
 * Providers and budgets over the API (SPEC "Provider limits and budgets"):
 * - GET /providers: each provider's state, since when and until when it is paused, and why;
 * - POST /providers/{name}/resume: an admin ends a pause (the only way a spend limit ends);
 * - GET, PUT, DELETE /owners/{owner_id}/budget: an owner's daily budget and what they spent today.
 *   Admins read and set anyone's; an owner reads their own (another owner's answers 404).
 */
import { z } from '@hono/zod-openapi';
import { callerOf } from '../../auth/caller.js';
import { budgetDay, type OwnerDay, ownerDays, remainingOf, isSpent, setOwnerBudget } from '../../budgets/owner-budgets.js';
import type { ProviderRow } from '../../db/tables/provider.table.js';
import type { JobKind } from '../../job-kinds.js';
import { providerStatus } from '../../machines/index.js';
import { releaseQueues } from '../../providers/provider-queues.js';
import { PROVIDER_LIMITS } from '../../errors/provider-limit.js';
import { listProviders, resumeProvider } from '../../providers/provider-states.js';
import { jobKind } from '../../spelling/api-spelling.js';
import { systemClock } from '../../util/clock.js';
import type { ApiDeps } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { createRouter } from '../router.js';
import { errorResponses, json } from '../schemas/common.schemas.js';
import { assertOwnerReadable, OwnerParam } from '../schemas/owner.schemas.js';

const Provider = z
  .object({
    name: z.string(),
    status: z.enum(['active', 'paused']),
    reason: z.enum(PROVIDER_LIMITS).nullable().openapi({ description: 'why it is (or was last) paused' }),
    message: z.string().nullable().openapi({ description: 'what the provider said' }),
    since: z.string().nullable().openapi({ description: 'when the current (or last) pause began' }),
    until: z
      .string()
      .nullable()
      .openapi({ description: 'when a paused provider resumes by itself; null for a spend limit: until an admin resumes it' }),
    kinds: z.array(z.string()).openapi({ description: 'the kinds the pause holds, fleet-wide' }),
    pause_count: z.number().int(),
  })
  .openapi('Provider');

const ProviderParam = z.object({
  name: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: 'name', in: 'path' }, example: 'anthropic' }),
});

const OwnerBudget = z
  .object({
    owner_id: z.string(),
    daily_usd: z.number().nullable().openapi({ description: 'null: no daily budget' }),
    source: z
      .enum(['owner', 'default', 'none'])
      .openapi({ description: 'owner: set for this owner; default: OWNER_DAILY_BUDGET_USD; none' }),
    day: z.string().openapi({ description: 'the UTC day, YYYY-MM-DD' }),
    spent_usd: z.number(),
    remaining_usd: z.number().nullable(),
    exhausted: z.boolean().openapi({ description: 'the day is spent: enqueues answer 409 budget_exhausted and queued jobs wait' }),
  })
  .openapi('OwnerBudget');

const BudgetBody = z
  .strictObject({
    daily_usd: z
      .number()
      .min(0)
      .max(1_000_000_000)
      .nullable()
      .openapi({ description: 'US dollars per UTC day; null: no budget for this owner' }),
  })
  .openapi('OwnerBudgetBody');

export function toApiProvider(row: ProviderRow): z.infer<typeof Provider> {
  return {
    name: row.name,
    status: providerStatus.toApi(row.status),
    reason: row.reason,
    message: row.message,
    since: row.paused_at?.toISOString() ?? null,
    until: row.status === 'PAUSED' ? (row.resume_at?.toISOString() ?? null) : null,
    kinds: (row.kinds as JobKind[]).map((kind) => jobKind.toApi(kind)),
    pause_count: row.pause_count,
  };
}

function toApiOwnerBudget(owner: OwnerDay): z.infer<typeof OwnerBudget> {
  return {
    owner_id: owner.ownerId,
    daily_usd: owner.dailyUsd,
    source: owner.source,
    day: owner.day,
    spent_usd: owner.spentUsd,
    remaining_usd: remainingOf(owner),
    exhausted: isSpent(owner),
  };
}

export function providerRoutes(deps: ApiDeps) {
  const app = createRouter();
  const ownerDay = async (ownerId: string) =>
    (await ownerDays(deps.db, [ownerId], budgetDay((deps.clock ?? systemClock)(), deps.config.OWNER_DAILY_BUDGET_USD))).get(ownerId)!;

  app.openapi(
    authedRoute(['read', 'worker'], {
      method: 'get',
      path: '/providers',
      tags: ['providers'],
      summary: 'Each provider the fleet has met: active, or paused (why, since when, until when)',
      responses: { 200: json(z.object({ providers: z.array(Provider) }), 'The providers') },
    }),
    async (c) => c.json({ providers: (await listProviders(deps.db)).map(toApiProvider) }, 200),
  );

  app.openapi(
    authedRoute(['admin'], {
      method: 'post',
      path: '/providers/{name}/resume',
      tags: ['providers'],
      summary: "Resume a paused provider's kinds now (the only way a spend limit's pause ends)",
      description: 'Answers the provider; one that is not paused is answered as it is.',
      request: { params: ProviderParam },
      responses: { 200: json(Provider, 'The provider, active'), ...errorResponses(404, 422) },
    }),
    async (c) => {
      const { name } = c.req.valid('param');
      const { row } = await resumeProvider(deps.db, name, { trigger: 'admin_resumes', actorTokenId: callerOf(c).actorTokenId });
      // Also when it was active already: a queue some worker held on a stale view is let go.
      await releaseQueues(deps.queues, row.kinds as JobKind[]);
      return c.json(toApiProvider(row), 200);
    },
  );

  app.openapi(
    authedRoute(['read', 'worker'], {
      method: 'get',
      path: '/owners/{owner_id}/budget',
      tags: ['budgets'],
      summary: "An owner's daily budget and what their jobs spent today (UTC)",
      description: "Admins read anyone's; other tokens only their own owner's (another answers 404).",
      request: { params: OwnerParam },
      responses: { 200: json(OwnerBudget, "The owner's day"), ...errorResponses(404, 422) },
    }),
    async (c) => {
      const { owner_id } = c.req.valid('param');
      assertOwnerReadable(c.get('principal'), owner_id);
      return c.json(toApiOwnerBudget(await ownerDay(owner_id)), 200);
    },
  );

  app.openapi(
    authedRoute(['admin'], {
      method: 'put',
      path: '/owners/{owner_id}/budget',
      tags: ['budgets'],
      summary: "Set an owner's daily budget (null: none), over OWNER_DAILY_BUDGET_USD",
      description:
        'A raised budget lets the owner enqueue again at once; their waiting jobs run when they are next offered (BUDGET_RECHECK_MS).',
      request: { params: OwnerParam, body: { content: { 'application/json': { schema: BudgetBody } }, required: true } },
      responses: { 200: json(OwnerBudget, "The owner's day"), ...errorResponses(422) },
    }),
    async (c) => {
      const { owner_id } = c.req.valid('param');
      await setOwnerBudget(deps.db, owner_id, c.req.valid('json').daily_usd, callerOf(c).actorTokenId);
      return c.json(toApiOwnerBudget(await ownerDay(owner_id)), 200);
    },
  );

  app.openapi(
    authedRoute(['admin'], {
      method: 'delete',
      path: '/owners/{owner_id}/budget',
      tags: ['budgets'],
      summary: "Remove an owner's own daily budget: OWNER_DAILY_BUDGET_USD applies again",
      request: { params: OwnerParam },
      responses: { 200: json(OwnerBudget, "The owner's day"), ...errorResponses(422) },
    }),
    async (c) => {
      const { owner_id } = c.req.valid('param');
      await setOwnerBudget(deps.db, owner_id, undefined, callerOf(c).actorTokenId);
      return c.json(toApiOwnerBudget(await ownerDay(owner_id)), 200);
    },
  );

  return app;
}
