/**
 * Where a kind's jobs live in Redis: REDIS_CLUSTER_NODES and QUEUE_SHARDS as parsed, the queue
 * names and hash-tagged prefixes they give, and a job's queue chosen by its id alike in every
 * process and spread evenly.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { bullPrefixOf, queueLayoutOf, shardIndexOf, shardNamesOf } from '../../src/queues/queue-layout.js';
import { redisTargetOf } from '../../src/queues/redis-connections.js';

describe('REDIS_CLUSTER_NODES', () => {
  it('is a list of host:port, and leaves one server the default', () => {
    expect(redisTargetOf(loadConfig({})).clusterNodes).toBeNull();
    const config = loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.5:7000, redis-b.internal:7001,' });
    expect(redisTargetOf(config).clusterNodes).toEqual([
      { host: '10.0.0.5', port: 7000 },
      { host: 'redis-b.internal', port: 7001 },
    ]);
  });

  it.each(['10.0.0.5', '10.0.0.5:', ':7000', 'a:7000,b', 'a:99999', ','])('refuses %j, naming the variable', (value) => {
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: value })).toThrow(ConfigError);
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: value })).toThrow(/REDIS_CLUSTER_NODES=.* is not allowed: expected/);
  });
});

describe('QUEUE_SHARDS', () => {
  it('is one queue per kind by default, a number for every kind, or kind=N with * for the rest', () => {
    expect(Object.values(loadConfig({}).QUEUE_SHARDS)).toEqual([1, 1, 1, 1, 1]);
    expect(Object.values(loadConfig({ QUEUE_SHARDS: '3' }).QUEUE_SHARDS)).toEqual([3, 3, 3, 3, 3]);
    expect(loadConfig({ QUEUE_SHARDS: 'idea_grill=4, *=2' }).QUEUE_SHARDS).toEqual({
      TASK_IMPLEMENTATION: 2,
      IDEA_GRILL: 4,
      IDEA_MAKE_PLAN: 2,
      PLAN_CHAT: 2,
      SPRINT_IMPLEMENTATION: 2,
    });
    expect(loadConfig({ QUEUE_SHARDS: 'plan_chat=2' }).QUEUE_SHARDS.IDEA_GRILL).toBe(1);
  });

  it.each(['0', '65', 'cooking=2', 'idea_grill', 'idea_grill=two', 'idea_grill=1.5', '2x'])('refuses %j, naming the variable', (value) => {
    expect(() => loadConfig({ QUEUE_SHARDS: value })).toThrow(
      /QUEUE_SHARDS=.* is not allowed: expected an integer from 1 to 64, or kind=N/,
    );
  });
});

describe('the queue layout', () => {
  it('keeps the keys of one server as they were: the fleet prefix and the kind queue', () => {
    const layout = queueLayoutOf(loadConfig({ BULLMQ_PREFIX: 'fleet' }));
    expect(shardNamesOf(layout, 'IDEA_GRILL')).toEqual(['idea_grill']);
    expect(bullPrefixOf(layout, 'idea_grill')).toBe('fleet');
  });

  it('gives each queue a hash tag of its own on a cluster, under the fleet prefix', () => {
    const layout = queueLayoutOf(
      loadConfig({ BULLMQ_PREFIX: 'fleet', REDIS_CLUSTER_NODES: '127.0.0.1:7000', QUEUE_SHARDS: 'idea_grill=3' }),
    );
    expect(shardNamesOf(layout, 'IDEA_GRILL')).toEqual(['idea_grill', 'idea_grill-2', 'idea_grill-3']);
    expect(shardNamesOf(layout, 'IDEA_GRILL').map((name) => bullPrefixOf(layout, name))).toEqual([
      'fleet:{idea_grill}',
      'fleet:{idea_grill-2}',
      'fleet:{idea_grill-3}',
    ]);
  });

  it("puts a job in the same queue in every process, and spreads a kind's jobs evenly", () => {
    const layout = queueLayoutOf(loadConfig({ QUEUE_SHARDS: '4' }));
    const other = queueLayoutOf(loadConfig({ QUEUE_SHARDS: '4' }));
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 8_000; i++) {
      const id = randomUUID();
      const shard = shardIndexOf(layout, 'PLAN_CHAT', id);
      expect(shardIndexOf(other, 'PLAN_CHAT', id)).toBe(shard);
      counts[shard]! += 1;
    }
    for (const count of counts) expect(Math.abs(count - 2_000)).toBeLessThan(250);
    expect(shardIndexOf(queueLayoutOf(loadConfig({})), 'PLAN_CHAT', randomUUID())).toBe(0);
  });
});
