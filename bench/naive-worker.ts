/**
 * Baseline 2: the naive durable design. BullMQ plus three guarded single-row Postgres updates
 * per job (QUEUED -> CLAIMED -> RUNNING -> DONE), each its own statement and commit; no history,
 * no batching. Prints `done <epoch ms> <peak rss bytes>` after BENCH_JOBS jobs.
 *
 * env: DATABASE_URL, REDIS_URL, BENCH_PREFIX, BENCH_QUEUE, BENCH_JOBS, BENCH_CONCURRENCY, BENCH_POOL.
 */
import pg from 'pg';
import { withDefaultUser } from '../src/db/connection-string.js';
import { runBaselineWorker } from './baseline-worker.js';

const pool = new pg.Pool({ connectionString: withDefaultUser(process.env.DATABASE_URL!), max: Number(process.env.BENCH_POOL) });

async function move(id: string, from: string, to: string) {
  const result = await pool.query('UPDATE naive_jobs SET status = $3 WHERE id = $1 AND status = $2', [id, from, to]);
  return result.rowCount === 1;
}

await runBaselineWorker(
  async (id) => {
    // A second delivery finds the row claimed already and does not count.
    if (!(await move(id, 'QUEUED', 'CLAIMED'))) return false;
    await move(id, 'CLAIMED', 'RUNNING');
    await move(id, 'RUNNING', 'DONE');
    return true;
  },
  () => pool.end(),
);
