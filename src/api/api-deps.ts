import type { RedisClient } from '../queues/redis-connections.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { Principal } from '../auth/principal.js';
import type { Config } from '../config.js';
import type { Db } from '../db/database.js';
import type { EventHub } from '../events/event-hub.js';
import type { Logger } from '../logger.js';
import type { Clock } from '../util/clock.js';
import type { FleetMetrics } from '../metrics/fleet-metrics.js';
import type { CancelPublisher } from '../queues/job-signals.js';
import type { JobQueues } from '../queues/job-queues.js';

/** What the HTTP API needs; the entry point that serves it opens and closes all of it. */
export interface ApiDeps {
  config: Pick<
    Config,
    | 'BODY_LIMIT_BYTES'
    | 'HEARTBEAT_MS'
    | 'METRICS_PUBLIC'
    | 'METRICS_KEEP_MS'
    | 'IDEMPOTENCY_TTL_MS'
    | 'BULLMQ_PREFIX'
    | 'PULL_LEASE_MS'
    | 'LEASE_MS'
    | 'OWNER_DAILY_BUDGET_USD'
    | 'OWNER_MAX_RUNNING'
  >;
  db: Db;
  /** The producer connection: readiness checks ping it, and job notices are published on it. */
  redis: RedisClient;
  queues: JobQueues;
  signals: CancelPublisher;
  auth: Authenticator;
  events: EventHub;
  metrics: FleetMetrics;
  logger: Logger;
  /** The time owners' daily budgets are judged by (tests move it to the next UTC day); default: the system's. */
  clock?: Clock;
}

/** Variables routes read from the request context. */
export interface ApiEnv {
  Variables: {
    requestId: string;
    /** Set by the auth middleware on every authenticated route. */
    principal: Principal;
  };
}
