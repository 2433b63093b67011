/**
 * Runs once per `vitest run` for the `cluster` project, after the template database's setup:
 * starts one Redis Cluster (3 masters, 3 replicas) that every file of the project shares, each
 * file under a prefix of its own, and stops it when the run ends. Files that kill or flush nodes
 * start a cluster of their own instead: this one must stay whole for the others.
 */
import type { TestProject } from 'vitest/node';
import { startRedisCluster } from '../helpers/redis-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** REDIS_CLUSTER_NODES of the shared cluster; unset outside the cluster project. */
    redisClusterNodes?: string;
  }
}

export default async function setup(project: TestProject) {
  const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  project.provide('redisClusterNodes', cluster.nodesSetting);
  return () => cluster.stop();
}
