/**
 * Owners' caps over the API (SPEC "Fair shares and schedules"):
 * - GET /owners: each owner's cap with their running and queued jobs; admins see every owner
 *   with work or a cap, other tokens only their own owner (no one else's figures);
 * - GET, PUT, DELETE /owners/{owner_id}/concurrency: one owner's cap. Admins read and set
 *   anyone's; an owner reads their own (another owner's answers 404).
 */
import { z } from '@hono/zod-openapi';
import { callerOf } from '../../auth/caller.js';
import { isAdmin } from '../../auth/principal.js';
import { type OwnerLoad, ownerLoads, setOwnerCap } from '../../fairness/owner-caps.js';
import { wakeParked } from '../../fairness/parked-deliveries.js';
import type { ApiDeps } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { createRouter } from '../router.js';
import { errorResponses, json } from '../schemas/common.schemas.js';
import { assertOwnerReadable, OwnerParam } from '../schemas/owner.schemas.js';

const OwnerConcurrency = z
  .object({
    owner_id: z.string(),
    max_running: z.number().int().nullable().openapi({ description: 'at most this many of their jobs run at once; null: no cap' }),
    source: z.enum(['owner', 'default', 'none']).openapi({ description: 'owner: set for this owner; default: OWNER_MAX_RUNNING; none' }),
    running: z.number().int().openapi({ description: 'their jobs claimed or running now, fleet-wide' }),
    queued: z.number().int().openapi({ description: 'their jobs waiting' }),
  })
  .openapi('OwnerConcurrency');

const ConcurrencyBody = z
  .strictObject({
    max_running: z
      .number()
      .int()
      .min(0)
      .max(1_000_000)
      .nullable()
      .openapi({ description: 'at most this many of the owner’s jobs run at once (0 holds them all); null: no cap for this owner' }),
  })
  .openapi('OwnerConcurrencyBody');

const toApi = (load: OwnerLoad): z.infer<typeof OwnerConcurrency> => ({
  owner_id: load.ownerId,
  max_running: load.maxRunning,
  source: load.source,
  running: load.running,
  queued: load.queued,
});

export function ownerCapRoutes(deps: ApiDeps) {
  const app = createRouter();
  const defaultMax = deps.config.OWNER_MAX_RUNNING ?? null;
  const loadOf = async (ownerId: string) => (await ownerLoads(deps.db, [ownerId], defaultMax))[0]!;
  // A raised cap frees slots now: the owner's parked deliveries need not wait out their delay.
  const wake = (ownerId: string) =>
    wakeParked({ db: deps.db, queues: deps.queues, logger: deps.logger, ownerMaxRunning: defaultMax }, [ownerId]).catch(() => 0);

  app.openapi(
    authedRoute(['read', 'worker'], {
      method: 'get',
      path: '/owners',
      tags: ['fair shares'],
      summary: "Owners' caps and their running and queued jobs",
      description: 'Admins see every owner with work or a cap of their own; other tokens see only their own owner.',
      responses: { 200: json(z.object({ owners: z.array(OwnerConcurrency) }), 'The owners') },
    }),
    async (c) => {
      const principal = c.get('principal');
      const loads = await ownerLoads(deps.db, isAdmin(principal) ? null : [principal.ownerId], defaultMax);
      return c.json({ owners: loads.map(toApi) }, 200);
    },
  );

  app.openapi(
    authedRoute(['read', 'worker'], {
      method: 'get',
      path: '/owners/{owner_id}/concurrency',
      tags: ['fair shares'],
      summary: "An owner's cap on running jobs, and their running and queued jobs",
      description: "Admins read anyone's; other tokens only their own owner's (another answers 404).",
      request: { params: OwnerParam },
      responses: { 200: json(OwnerConcurrency, "The owner's cap"), ...errorResponses(404, 422) },
    }),
    async (c) => {
      const { owner_id } = c.req.valid('param');
      assertOwnerReadable(c.get('principal'), owner_id);
      return c.json(toApi(await loadOf(owner_id)), 200);
    },
  );

  app.openapi(
    authedRoute(['admin'], {
      method: 'put',
      path: '/owners/{owner_id}/concurrency',
      tags: ['fair shares'],
      summary: "Set an owner's cap on running jobs (null: none), over OWNER_MAX_RUNNING",
      description: 'Workers judge a new cap from their next heartbeat (HEARTBEAT_MS); jobs already running are not stopped.',
      request: { params: OwnerParam, body: { content: { 'application/json': { schema: ConcurrencyBody } }, required: true } },
      responses: { 200: json(OwnerConcurrency, "The owner's cap"), ...errorResponses(422) },
    }),
    async (c) => {
      const { owner_id } = c.req.valid('param');
      await setOwnerCap(deps.db, owner_id, c.req.valid('json').max_running, callerOf(c).actorTokenId);
      await wake(owner_id);
      return c.json(toApi(await loadOf(owner_id)), 200);
    },
  );

  app.openapi(
    authedRoute(['admin'], {
      method: 'delete',
      path: '/owners/{owner_id}/concurrency',
      tags: ['fair shares'],
      summary: "Remove an owner's own cap: OWNER_MAX_RUNNING applies again",
      request: { params: OwnerParam },
      responses: { 200: json(OwnerConcurrency, "The owner's cap"), ...errorResponses(422) },
    }),
    async (c) => {
      const { owner_id } = c.req.valid('param');
      await setOwnerCap(deps.db, owner_id, undefined, callerOf(c).actorTokenId);
      await wake(owner_id);
      return c.json(toApi(await loadOf(owner_id)), 200);
    },
  );

  return app;
}
