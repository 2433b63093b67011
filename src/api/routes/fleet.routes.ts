/**
 * The fleet at a glance: GET /api/v1/workers (every worker with its heartbeat and the current jobs
 * the token may see) and GET /api/v1/stats (jobs by kind and status, workers alive).
 */
import { z } from '@hono/zod-openapi';
import { callerOf } from '../../auth/caller.js';
import { sql } from 'kysely';
import { isJobKind } from '../../job-kinds.js';
import { jobKind, claudeJobStatus } from '../../spelling/api-spelling.js';
import type { ApiDeps } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { productIdsOf } from '../../backlog/product.repository.js';
import { createKeptAnswers } from '../../util/kept-answers.js';
import { createRouter } from '../router.js';
import { json } from '../schemas/common.schemas.js';

export const FleetWorker = z
  .object({
    id: z.uuid(),
    host: z.string(),
    pid: z.number().int(),
    kinds: z.array(z.string()),
    concurrency: z.number().int(),
    version: z.string(),
    mode: z
      .enum(['process', 'pull'])
      .openapi({ description: 'process: a worker process; pull: an agent session working the queue over MCP (wait_for_job)' }),
    provider: z
      .string()
      .nullable()
      .openapi({ description: 'whose limits its agents run under (GET /api/v1/providers); null for a pull-mode session' }),
    started_at: z.string(),
    last_heartbeat_at: z.string(),
    stopped_at: z.string().nullable(),
    alive: z.boolean(),
    current_jobs: z.array(z.object({ id: z.uuid(), kind: z.string(), status: z.string() })),
  })
  .openapi('FleetWorker');

const Stats = z
  .object({
    jobs: z.record(z.string(), z.record(z.string(), z.number().int())).openapi({ description: 'kind -> status -> count' }),
    workers: z.object({ alive: z.number().int(), total: z.number().int() }),
  })
  .openapi('FleetStats');

/** How recent a heartbeat keeps a worker alive, in ms: three intervals, or a pull-mode session's lease. */
function aliveWindow(deps: ApiDeps) {
  return sql`(CASE WHEN mode = 'pull' THEN ${deps.config.PULL_LEASE_MS}::int ELSE ${deps.config.HEARTBEAT_MS * 3}::int END)`;
}

export function fleetRoutes(deps: ApiDeps) {
  const app = createRouter();

  app.openapi(
    authedRoute(['read', 'worker'], {
      method: 'get',
      path: '/workers',
      tags: ['fleet'],
      summary: 'Every worker process: host, pid, kinds, concurrency, current jobs, last heartbeat, alive or not',
      description:
        'Workers seen in the last 24 hours, newest first. Alive: not stopped, and a heartbeat within three heartbeat intervals ' +
        '(a pull-mode session: within PULL_LEASE_MS, as it beats only through job_heartbeat and wait_for_job). ' +
        "current_jobs lists only the jobs the token may see: every owner's for admin and worker tokens, its owner's for others.",
      request: { query: z.object({ alive: z.enum(['true', 'false']).optional() }) },
      responses: { 200: json(z.object({ items: z.array(FleetWorker) }), 'The fleet') },
    }),
    async (c) => {
      const aliveWithin = aliveWindow(deps);
      let query = deps.db
        .selectFrom('workers')
        .selectAll()
        .select(sql<boolean>`stopped_at IS NULL AND heartbeat_at > now() - ${aliveWithin} * interval '1 millisecond'`.as('alive'))
        .where('heartbeat_at', '>', sql<Date>`now() - interval '24 hours'`)
        .orderBy('started_at', 'desc');
      const onlyAlive = c.req.valid('query').alive;
      if (onlyAlive)
        query = query.where(
          sql<boolean>`(stopped_at IS NULL AND heartbeat_at > now() - ${aliveWithin} * interval '1 millisecond') = ${onlyAlive === 'true'}`,
        );
      const workers = await query.execute();
      const ownerId = callerOf(c).ownerId;
      let current = deps.db
        .selectFrom('claude_jobs')
        .select(['id', 'kind', 'status', 'claimed_by_worker_id'])
        .where('status', 'in', ['CLAIMED', 'RUNNING'])
        .where(
          'claimed_by_worker_id',
          'in',
          workers.map((worker) => worker.id),
        );
      if (ownerId !== null) {
        current = current.where('product_id', 'in', (eb) => eb.selectFrom('products').select('id').where('owner_id', '=', ownerId));
      }
      const jobs = workers.length ? await current.execute() : [];
      return c.json(
        {
          items: workers.map((worker) => ({
            id: worker.id,
            host: worker.host,
            pid: worker.pid,
            kinds: worker.kinds.map(kindToApi),
            concurrency: worker.concurrency,
            version: worker.version,
            mode: worker.mode,
            provider: worker.provider,
            started_at: worker.started_at.toISOString(),
            last_heartbeat_at: worker.heartbeat_at.toISOString(),
            stopped_at: worker.stopped_at?.toISOString() ?? null,
            alive: worker.alive,
            current_jobs: jobs
              .filter((job) => job.claimed_by_worker_id === worker.id)
              .map((job) => ({ id: job.id, kind: jobKind.toApi(job.kind), status: claudeJobStatus.toApi(job.status) })),
          })),
        },
        200,
      );
    },
  );

  /**
   * An admin's counts are the metrics scrape's own read (src/metrics/job-figures.ts): the live
   * jobs counted through their partial indexes, the finished ones as they finish, so a poll does
   * not read every job the fleet has kept. An owner's are counted through the jobs' product index,
   * so they cost that owner's jobs. Every open fleet page asks every 10 s: an answer is kept
   * METRICS_KEEP_MS per scope (an owner, or all), so the pages of one scope cost one read per interval.
   */
  const stats = createKeptAnswers<z.infer<typeof Stats>>(deps.config.METRICS_KEEP_MS);
  const countJobs = async (ownerId: string | null) => {
    if (ownerId === null) return deps.metrics.jobCounts();
    return (
      await deps.db
        .selectFrom('claude_jobs')
        .select(['kind', 'status'])
        .select(sql<string>`count(*)`.as('count'))
        .where('product_id', '=', sql<string>`ANY(${await productIdsOf(deps.db, ownerId)}::uuid[])`)
        .groupBy(['kind', 'status'])
        .execute()
    ).map((row) => ({ ...row, count: Number(row.count) }));
  };
  const readStats = async (ownerId: string | null): Promise<z.infer<typeof Stats>> => {
    const jobs: Record<string, Record<string, number>> = {};
    for (const row of await countJobs(ownerId)) {
      if (row.count === 0) continue;
      const kind = jobKind.toApi(row.kind);
      jobs[kind] = { ...(jobs[kind] ?? {}), [claudeJobStatus.toApi(row.status)]: row.count };
    }
    const workers = await deps.db
      .selectFrom('workers')
      .select(
        sql<string>`count(*) FILTER (WHERE stopped_at IS NULL AND heartbeat_at > now() - ${aliveWindow(deps)} * interval '1 millisecond')`.as(
          'alive',
        ),
      )
      .select(sql<string>`count(*) FILTER (WHERE heartbeat_at > now() - interval '24 hours')`.as('total'))
      .executeTakeFirstOrThrow();
    return { jobs, workers: { alive: Number(workers.alive), total: Number(workers.total) } };
  };

  app.openapi(
    authedRoute(['read', 'worker'], {
      method: 'get',
      path: '/stats',
      tags: ['fleet'],
      summary: 'Jobs by kind and status (of the products the token sees), and workers alive',
      responses: { 200: json(Stats, 'The counts') },
    }),
    async (c) => {
      const ownerId = callerOf(c).ownerId;
      return c.json(await stats.get(ownerId === null ? 'all' : `owner:${ownerId}`, () => readStats(ownerId)), 200);
    },
  );
  return app;
}

/** A worker row holds its kinds as text, written from the kinds it was built with: each has a spelling. */
function kindToApi(kind: string): string {
  if (!isJobKind(kind)) throw new Error(`spelling: no API spelling for ${kind}`);
  return jobKind.toApi(kind);
}
