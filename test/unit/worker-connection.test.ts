/**
 * A worker's BullMQ connection to one server auto-pipelines its commands; every other user of
 * workerConnection (schedules, the bench's raw BullMQ baseline) keeps ioredis's default.
 */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { workerConnection } from '../../src/queues/redis-connections.js';

const server = { url: 'redis://127.0.0.1:6379', clusterNodes: null };
const logger = createLogger({ LOG_LEVEL: 'silent' });

describe('workerConnection', () => {
  it('auto-pipelines only when asked, and still waits for Redis for ever', () => {
    const plain = workerConnection(server, logger).connection as Record<string, unknown>;
    const pipelined = workerConnection(server, logger, 'worker', { autoPipelining: true }).connection as Record<string, unknown>;
    expect(plain.enableAutoPipelining).toBeUndefined();
    expect(pipelined.enableAutoPipelining).toBe(true);
    expect(pipelined.maxRetriesPerRequest).toBeNull();
    expect(pipelined.host).toBe('127.0.0.1');
  });
});
