import type { Config } from '../config.js';
import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import type { CancelPublisher } from '../queues/job-signals.js';
import type { JobQueues } from '../queues/job-queues.js';

/** What the HTTP API needs; the entry point that serves it opens and closes all of it. */
export interface ApiDeps {
  config: Pick<Config, 'BODY_LIMIT_BYTES' | 'ADMIN_TOKEN'>;
  db: Db;
  queues: JobQueues;
  signals: CancelPublisher;
  logger: Logger;
}

/** Variables routes read from the request context. */
export interface ApiEnv {
  Variables: {
    requestId: string;
    /** The token the request authenticated with; null until auth is in place for a route. */
    actorTokenId: string | null;
  };
}
