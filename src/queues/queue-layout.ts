/**
 * Where each kind's jobs live in Redis: which BullMQ queues, under which key prefix.
 *
 * - One Redis: each kind has one queue under BULLMQ_PREFIX (`jobfleet:idea_grill:wait`), as it
 *   always had.
 * - A Redis Cluster: BullMQ's scripts touch many keys of a queue at once, so all of a queue's keys
 *   must hash to one slot. Each queue's prefix carries a hash tag of the queue's own
 *   (`jobfleet:{idea_grill}:idea_grill:wait`), so the kinds' queues spread over the shards
 *   instead of piling onto the one slot a fleet-wide tag would give.
 * - QUEUE_SHARDS splits a hot kind over several queues (`idea_grill`, `idea_grill-2`, ...): a job
 *   goes to the one its id hashes to, and every worker of the kind serves them all. On a cluster
 *   each has its own tag, so one kind's load spreads over the shards too.
 *
 * Keys of jobfleet's own (the capped owners' set) and its pub/sub channels keep BULLMQ_PREFIX:
 * each is one key or a channel, which a cluster serves without a tag.
 */
import type { Config } from '../config.js';
import type { JobKind } from '../job-kinds.js';
import { queueNameOf } from './kinds.js';

export interface QueueLayout {
  /** BULLMQ_PREFIX: every key and channel of the fleet starts with it. */
  readonly prefix: string;
  /** Whether Redis is a cluster: queue prefixes then carry hash tags. */
  readonly cluster: boolean;
  /** How many queues each kind is split over. */
  readonly shards: Readonly<Record<JobKind, number>>;
}

export function queueLayoutOf(config: Pick<Config, 'BULLMQ_PREFIX' | 'REDIS_CLUSTER_NODES' | 'QUEUE_SHARDS'>): QueueLayout {
  return { prefix: config.BULLMQ_PREFIX, cluster: config.REDIS_CLUSTER_NODES !== undefined, shards: config.QUEUE_SHARDS };
}

/** The names of the queues a kind is split over: the kind's own queue first, then `-2`, `-3`, ... */
export function shardNamesOf(layout: QueueLayout, kind: JobKind): string[] {
  const name = queueNameOf(kind);
  return Array.from({ length: layout.shards[kind] }, (_, index) => (index === 0 ? name : `${name}-${index + 1}`));
}

/** Which of its kind's queues a job goes to: its id's hash, so every process agrees without asking. */
export function shardIndexOf(layout: QueueLayout, kind: JobKind, jobId: string): number {
  const count = layout.shards[kind];
  if (count === 1) return 0;
  // FNV-1a over the id: cheap, and spreads uuids evenly.
  let hash = 0x811c9dc5;
  for (let i = 0; i < jobId.length; i++) hash = Math.imul(hash ^ jobId.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % count;
}

/** The BullMQ prefix of a queue: the fleet's, followed on a cluster by the queue's own hash tag. */
export function bullPrefixOf(layout: QueueLayout, queueName: string): string {
  return layout.cluster ? `${layout.prefix}:{${queueName}}` : layout.prefix;
}
