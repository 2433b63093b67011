/**
 * Cancel signals from any API process to whichever worker runs the job, over Redis pub/sub.
 * A signal is a courtesy that makes cancel prompt: a worker that misses it (Redis away, message
 * lost) still learns at its next lease renewal that its job is no longer RUNNING.
 */
import type { Logger } from '../logger.js';
import { listenOn, publishOn } from './fleet-channels.js';
import { createSubscriberConnection, type RedisClient, type RedisTarget } from './redis-connections.js';

export interface CancelPublisher {
  publishCancel(jobIds: readonly string[]): Promise<void>;
}

export function cancelChannel(prefix: string): string {
  return `${prefix}:signals:cancel`;
}

export function createCancelPublisher(connection: RedisClient, prefix: string, logger: Logger): CancelPublisher {
  return {
    async publishCancel(jobIds) {
      if (jobIds.length === 0) return;
      try {
        await publishOn(connection, cancelChannel(prefix), JSON.stringify(jobIds));
      } catch (error) {
        logger.warn({ err: (error as Error).message, jobIds }, 'cancel signal not published; workers will notice at lease renewal');
      }
    },
  };
}

export interface CancelSubscription {
  close(): Promise<void>;
}

export async function subscribeToCancels(
  redis: RedisTarget,
  prefix: string,
  logger: Logger,
  onCancel: (jobIds: string[]) => void,
): Promise<CancelSubscription> {
  const subscriber = createSubscriberConnection(redis, logger, 'cancel-subscriber');
  await listenOn(subscriber, cancelChannel(prefix), (message) => {
    try {
      const ids = JSON.parse(message) as unknown;
      if (Array.isArray(ids)) onCancel(ids.filter((id): id is string => typeof id === 'string'));
    } catch {
      logger.warn({ message }, 'ignored a malformed cancel signal');
    }
  });
  return {
    async close() {
      subscriber.disconnect();
    },
  };
}
