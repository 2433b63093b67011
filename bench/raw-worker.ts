/**
 * Baseline 1: raw BullMQ. A worker whose processor does nothing, with the same queue settings as
 * jobfleet's (finished jobs kept briefly). It prints `done <epoch ms> <peak rss bytes>` after
 * BENCH_JOBS deliveries.
 *
 * env: REDIS_URL, BENCH_PREFIX, BENCH_QUEUE, BENCH_JOBS, BENCH_CONCURRENCY.
 */
import { runBaselineWorker } from './baseline-worker.js';

await runBaselineWorker(async () => true);
