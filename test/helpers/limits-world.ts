/**
 * What the provider-limit and budget tests run in: the file's test env (with short pauses), the
 * API in-process (its clock injectable), in-process worker pools whose agent is chosen by the
 * configuration exactly as a `jobfleet worker` chooses it (AGENT=anthropic against the fake
 * server, or AGENT=command running a fixture agent), the sweeper (which relays live events and
 * ends due pauses), and a subscription to the live events the API would stream.
 *
 * Everything here is started through the same functions the CLI roles use, so what the tests see
 * is what a deployed fleet does; only the clock is the test's.
 */
import path from 'node:path';
import type { ApiDeps } from '../../src/api/api-deps.js';
import { Closers } from '../../src/cli/lifecycle.js';
import { openProducer, runSweeper } from '../../src/cli/roles.js';
import { type Config, loadConfig } from '../../src/config.js';
import type { Db } from '../../src/db/database.js';
import type { OwnedEvent } from '../../src/events/fleet-event.js';
import type { Executor } from '../../src/executors/executor.js';
import { createExecutor } from '../../src/executors/index.js';
import type { JobKind } from '../../src/queues/kinds.js';
import type { Clock } from '../../src/util/clock.js';
import { startWorkerPool, type WorkerPool, type WorkerPoolOptions } from '../../src/workers/worker-pool.js';
import { type ApiHarness, createApiHarness } from './api-harness.js';
import { createTestEnv, type TestEnv } from './test-env.js';
import { waitFor } from './wait-for.js';

/** A clock the test moves: `now` is what the fleet's budgets see. */
export interface MovableClock {
  clock: Clock;
  now(): Date;
  set(at: Date): void;
}

export function movableClock(start = new Date()): MovableClock {
  // Time goes on from where the test put it, so that nothing sees a frozen instant.
  let base = start.getTime();
  let since = performance.now();
  const now = () => new Date(base + (performance.now() - since));
  return {
    clock: now,
    now,
    set(at) {
      base = at.getTime();
      since = performance.now();
    },
  };
}

export interface LimitsWorld {
  env: TestEnv;
  db: Db;
  config: Config;
  /** The API with the world's clock; `call` and `token` as in api-harness. */
  api: Pick<ApiHarness, 'call' | 'token' | 'adminSecret' | 'queues'> & { deps: ApiDeps };
  clock: MovableClock;
  pools: WorkerPool[];
  /** Every live event the API's hub received, in arrival order. */
  events: OwnedEvent[];
  /** Starts one more in-process worker pool with the world's configuration and clock. */
  startPool(options?: {
    kinds?: readonly JobKind[];
    concurrency?: number;
    env?: Record<string, string>;
    executor?: Executor;
  }): Promise<WorkerPool>;
  close(): Promise<void>;
}

export interface LimitsWorldOptions {
  /** Environment of the fleet (AGENT, ANTHROPIC_BASE_URL, limits...), over the short pauses below. */
  env?: Record<string, string>;
  /** Pools started at once (more with `startPool`). */
  pools?: number;
  kinds?: readonly JobKind[];
  concurrency?: number;
  clock?: MovableClock;
}

/**
 * Pauses short enough for a test: a rate limit without a time lasts 300 ms, an overload backs off
 * from 50 ms, an owner whose day is spent is offered again every 300 ms.
 */
export const SHORT_PAUSES = {
  PROVIDER_RATE_LIMIT_DEFAULT_MS: '300',
  PROVIDER_BACKOFF_BASE_MS: '50',
  PROVIDER_BACKOFF_MAX_MS: '400',
  BUDGET_RECHECK_MS: '300',
} as const;

export async function startLimitsWorld(options: LimitsWorldOptions = {}): Promise<LimitsWorld> {
  const env = await createTestEnv({ ...SHORT_PAUSES, ...options.env });
  const { db } = env.database;
  const clock = options.clock ?? movableClock();
  const closers = new Closers();
  const harness = await createApiHarness(env, { clock: clock.clock });
  closers.add('api', () => harness.close());
  const { call, deps } = harness;

  const events: OwnedEvent[] = [];
  const unsubscribe = harness.deps.events.subscribe((received) => events.push(...received));
  closers.add('event subscription', async () => void unsubscribe());

  const producer = openProducer(env.config, closers, env.logger);
  runSweeper(env.config, db, producer, closers, env.logger);

  const pools: WorkerPool[] = [];
  const startPool: LimitsWorld['startPool'] = async (pool = {}) => {
    const config = pool.env ? loadConfig({ ...env.env, ...pool.env }) : env.config;
    const extra = { clock: clock.clock } as Partial<WorkerPoolOptions>;
    const started = await startWorkerPool({
      config,
      db,
      logger: env.logger,
      executor: pool.executor ?? (await createExecutor(config)),
      kinds: pool.kinds ?? options.kinds ?? ['IDEA_GRILL', 'PLAN_CHAT'],
      concurrency: pool.concurrency ?? options.concurrency ?? 5,
      version: 'test',
      ...extra,
    });
    pools.push(started);
    return started;
  };
  for (let i = 0; i < (options.pools ?? 1); i += 1) await startPool();

  return {
    env,
    db,
    config: env.config,
    api: { call, token: harness.token, adminSecret: harness.adminSecret, queues: harness.queues, deps },
    clock,
    pools,
    events,
    startPool,
    async close() {
      await Promise.all(pools.map((pool) => pool.close(5_000)));
      await closers.closeAll(env.logger);
      await env.teardown();
    },
  };
}

/** Statuses of these jobs, as stored. */
export async function jobRows(db: Db, ids: readonly string[]) {
  if (ids.length === 0) return [];
  return db
    .selectFrom('claude_jobs')
    .selectAll()
    .where('id', 'in', [...ids])
    .execute();
}

const ENDED = ['DONE', 'FAILED', 'CANCELLED', 'SKIPPED'];

/** Waits until every one of these jobs has ended (whatever the end); returns their rows. */
export async function waitAllEnded(db: Db, ids: readonly string[], timeoutMs = 60_000) {
  return waitFor(
    `${ids.length} jobs to end`,
    async () => {
      const rows = await jobRows(db, ids);
      const left = rows.filter((row) => !ENDED.includes(row.status));
      return left.length === 0 ? rows : undefined;
    },
    { timeoutMs },
  );
}

/** The history of one entity, oldest first. */
export async function historyOf(db: Db, entityType: string, id: string) {
  return db
    .selectFrom('transitions')
    .select(['from_status', 'to_status', 'trigger', 'reason', 'created_at'])
    .where('entity_type', '=', entityType as never)
    .where('entity_id', '=', id)
    .orderBy('id')
    .execute();
}

/** The provider's history rows (pauses and resumes), oldest first. */
export async function providerHistory(db: Db, name: string) {
  const row = await db.selectFrom('providers').select('id').where('name', '=', name).executeTakeFirst();
  return row ? historyOf(db, 'PROVIDER', row.id) : [];
}

/**
 * Waits until the fleet has lived through `count` more heartbeats of a worker (each renews its
 * row): how a test lets "a while" pass in which something must NOT happen, measured by the
 * fleet's own beat rather than by a sleep.
 */
export async function heartbeatsPass(db: Db, workerId: string, count: number, timeoutMs = 30_000): Promise<void> {
  const seen = new Set<number>();
  await waitFor(
    `${count} heartbeats of worker ${workerId}`,
    async () => {
      const row = await db.selectFrom('workers').select('heartbeat_at').where('id', '=', workerId).executeTakeFirstOrThrow();
      seen.add(row.heartbeat_at.getTime());
      return seen.size > count;
    },
    { timeoutMs, intervalMs: 20 },
  );
}

/** The provider as GET /api/v1/providers shows it. */
export async function providerView(world: LimitsWorld, name: string) {
  const { status, body } = await world.api.call('GET', '/api/v1/providers');
  if (status !== 200) throw new Error(`GET /api/v1/providers answered ${status}: ${JSON.stringify(body)}`);
  return (body.providers as { name: string; status: string; reason: string | null; [field: string]: unknown }[]).find(
    (provider) => provider.name === name,
  );
}

const LIMITED_AGENT = path.join(import.meta.dirname, '..', 'fixtures', 'agents', 'limited-agent.mjs');

/** A command line running the fixture agent (test/fixtures/agents/limited-agent.mjs) in one of its modes. */
export function limitedAgent(mode: string, extra: Record<string, string> = {}): string {
  const vars = Object.entries({ LIMITED_AGENT_MODE: mode, ...extra })
    .map(([key, value]) => `${key}='${value}'`)
    .join(' ');
  return `env ${vars} '${process.execPath}' '${LIMITED_AGENT}'`;
}
