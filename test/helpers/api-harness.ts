/**
 * The HTTP API in the test's own process, called through `app.request` (no port needed), with a
 * real producer connection to Redis and the file's own database.
 */
import type { ApiDeps } from '../../src/api/api-deps.js';
import { createApp } from '../../src/api/app.js';
import { createAuthenticator, type Dashboard } from '../../src/auth/authenticator.js';
import { createEventHub } from '../../src/events/event-hub.js';
import { createFleetMetrics } from '../../src/metrics/fleet-metrics.js';
import { createToken } from '../../src/auth/token.repository.js';
import { createJobQueues, type JobQueues } from '../../src/queues/job-queues.js';
import { createCancelPublisher } from '../../src/queues/job-signals.js';
import { createProducerConnection } from '../../src/queues/redis-connections.js';
import type { Clock } from '../../src/util/clock.js';
import type { TestEnv } from './test-env.js';

export interface ApiHarness {
  app: ReturnType<typeof createApp>;
  /** What the app was made with (a test can serve the event socket with the same). */
  deps: ApiDeps;
  queues: JobQueues;
  /** The bearer secret `call` sends unless told otherwise: an admin token. */
  adminSecret: string;
  /** A new token with these scopes for this owner; returns its bearer secret. */
  token(scopes: string[], owner?: string): Promise<string>;
  /** A request as the admin token, or with `headers.authorization` as given ('' sends none). */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export async function createApiHarness(env: TestEnv, options: { dashboard?: Dashboard; clock?: Clock } = {}): Promise<ApiHarness> {
  const connection = createProducerConnection(env.redis, env.logger);
  await new Promise<void>((resolve, reject) => {
    if (connection.status === 'ready') return resolve();
    connection.once('ready', resolve);
    connection.once('error', reject);
  });
  const queues = createJobQueues({ connection, layout: env.layout, logger: env.logger });
  const events = await createEventHub(env.redis, env.prefix, env.logger);
  const deps = {
    config: env.config,
    db: env.database.db,
    redis: connection,
    queues,
    signals: createCancelPublisher(connection, env.prefix, env.logger),
    auth: createAuthenticator(env.database.db, options.dashboard ?? null),
    events,
    metrics: createFleetMetrics({
      db: env.database.db,
      queues,
      heartbeatMs: env.config.HEARTBEAT_MS,
      ownerMaxRunning: env.config.OWNER_MAX_RUNNING ?? null,
      keepMs: env.config.METRICS_KEEP_MS,
      ...(options.clock && { clock: options.clock }),
    }),
    logger: env.logger,
    // The time owners' budgets are judged by: a test may move it to the next UTC day.
    ...(options.clock && { clock: options.clock }),
  };
  const app = createApp(deps);
  const token = async (scopes: string[], owner = 'owner-a') =>
    (await createToken(env.database.db, { name: `test ${scopes.join(',')}`, ownerId: owner, scopes })).secret;
  const adminSecret = await token(['admin'], 'admin');
  return {
    app,
    deps,
    queues,
    adminSecret,
    token,
    async call(method, path, body, headers = {}) {
      const { authorization = `Bearer ${adminSecret}`, ...rest } = headers;
      const response = await app.request(path, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(authorization ? { authorization } : {}),
          ...rest,
        },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: response.status, body: parsed };
    },
    async close() {
      await events.close();
      await queues.close();
      connection.disconnect();
    },
  };
}
