/**
 * Publishing and listening on the fleet's pub/sub channels (cancel signals, live events), on one
 * Redis or on a cluster.
 *
 * On a cluster a plain PUBLISH has no key, so the client sends each one to a master picked at
 * random, and the cluster carries it from there over its bus to the subscribers' nodes: two
 * messages of one publisher took different paths and could arrive out of order (live events
 * came `done` before `claimed`). Sharded pub/sub (SPUBLISH, SSUBSCRIBE; Redis 7) keeps a channel
 * on the master of its slot: every message of the channel takes the one path, in the order sent.
 */
import { Cluster } from 'ioredis';
import type { RedisClient } from './redis-connections.js';

export async function publishOn(redis: RedisClient, channel: string, message: string): Promise<void> {
  if (redis instanceof Cluster) await redis.spublish(channel, message);
  else await redis.publish(channel, message);
}

/** Listens on a channel; the subscriber connection is one of createSubscriberConnection's. */
export async function listenOn(subscriber: RedisClient, channel: string, onMessage: (message: string) => void): Promise<void> {
  const sharded = subscriber instanceof Cluster;
  subscriber.on(sharded ? 'smessage' : 'message', (from: string, message: string) => {
    if (from === channel) onMessage(message);
  });
  if (sharded) await subscriber.ssubscribe(channel);
  else await subscriber.subscribe(channel);
}
