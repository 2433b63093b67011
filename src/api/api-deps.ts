import type { Authenticator } from '../auth/authenticator.js';
import type { Principal } from '../auth/principal.js';
import type { Config } from '../config.js';
import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import type { CancelPublisher } from '../queues/job-signals.js';
import type { JobQueues } from '../queues/job-queues.js';

/** What the HTTP API needs; the entry point that serves it opens and closes all of it. */
export interface ApiDeps {
  config: Pick<Config, 'BODY_LIMIT_BYTES'>;
  db: Db;
  queues: JobQueues;
  signals: CancelPublisher;
  auth: Authenticator;
  logger: Logger;
}

/** Variables routes read from the request context. */
export interface ApiEnv {
  Variables: {
    requestId: string;
    /** Set by the auth middleware on every /api/v1 route but the OpenAPI document. */
    principal: Principal;
  };
}
