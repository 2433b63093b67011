/**
 * The API role: HTTP routes, the event WebSocket, the dashboards. Commands import this module
 * only when they serve the API, so worker and sweeper processes stay free of the HTTP stack.
 */
import { serve } from '@hono/node-server';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../api/app.js';
import { answerClientErrors } from '../api/client-errors.js';
import { attachEventSocket } from '../api/event-socket.js';
import { createAuthenticator } from '../auth/authenticator.js';
import { ensureConfiguredToken, ensureDashboardToken } from '../auth/token.repository.js';
import type { Config } from '../config.js';
import type { Db } from '../db/database.js';
import { createEventHub } from '../events/event-hub.js';
import { redisTargetOf } from '../queues/redis-connections.js';
import type { Logger } from '../logger.js';
import { createFleetMetrics } from '../metrics/fleet-metrics.js';
import type { Closers } from './lifecycle.js';
import { PortInUseError } from './port-in-use-error.js';
import type { Producer } from './roles.js';

/** Serves the API (HTTP, the event WebSocket); resolves with its base URL once it listens. */
export async function runApi(config: Config, db: Db, producer: Producer, closers: Closers, logger: Logger): Promise<string> {
  if (config.ADMIN_TOKEN) await ensureConfiguredToken(db, 'ADMIN_TOKEN', config.ADMIN_TOKEN);
  const dashboard =
    config.DASHBOARD_USER && config.DASHBOARD_PASSWORD
      ? {
          user: config.DASHBOARD_USER,
          password: config.DASHBOARD_PASSWORD,
          tokenId: await ensureDashboardToken(db),
        }
      : null;
  const apiLogger = logger.child({ role: 'api' });
  const events = await createEventHub(redisTargetOf(config), config.BULLMQ_PREFIX, apiLogger);
  const deps = {
    config,
    db,
    redis: producer.connection,
    queues: producer.queues,
    signals: producer.publishCancel,
    auth: createAuthenticator(db, dashboard),
    events,
    metrics: createFleetMetrics({
      db,
      queues: producer.queues,
      heartbeatMs: config.HEARTBEAT_MS,
      ownerMaxRunning: config.OWNER_MAX_RUNNING ?? null,
      keepMs: config.METRICS_KEEP_MS,
    }),
    logger: apiLogger,
  };
  const app = createApp(deps);
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, () => resolve(s));
    s.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new PortInUseError(config.HOST, config.PORT) : error),
    );
  }).catch(async (error: unknown) => {
    // Nothing listens, so the closer below is never registered: the hub's Redis connection would
    // keep the process alive after the error is reported.
    await events.close();
    throw error;
  });
  answerClientErrors(server as unknown as Server, apiLogger);
  const socket = attachEventSocket(server as unknown as Server, deps);
  closers.add('http server', async () => {
    // Event streams never end on their own: close them first, then stop listening.
    await events.close();
    await socket.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  const host = config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;
  return `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
}
