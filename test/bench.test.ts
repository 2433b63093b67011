/**
 * `npm run bench` in miniature: every phase runs (against a database and a BullMQ prefix of its
 * own), one JSON line carries every figure, and the results block of a BENCHMARKS.md is
 * rewritten with them. No time is asserted: only that each figure is there and adds up.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { serverUrl, testRedisUrl } from './helpers/names.js';

const ROOT = path.join(import.meta.dirname, '..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'jobfleet-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const positive = expect.any(Number);
const quantiles = { p50: expect.any(Number), p95: expect.any(Number), p99: expect.any(Number) };
/** A peer's run of every one of `jobs`, with the configuration it ran in. */
const peer = (jobs: number, name: string, config: Record<string, unknown>) => ({
  jobs,
  jobs_enqueued: jobs,
  jobs_per_second: positive,
  enqueue_jobs_per_second: positive,
  worker_peak_rss_mb: positive,
  rounds_jobs_per_second: [positive],
  config: { peer: name, version: expect.any(String), ...config },
});

describe('the bench', () => {
  it('runs every phase, prints one JSON line with every figure, and rewrites the results block', { timeout: 300_000 }, async () => {
    const benchmarks = path.join(dir, 'BENCHMARKS.md');
    copyFileSync(path.join(ROOT, 'BENCHMARKS.md'), benchmarks);
    const jobs = 300;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/run.ts',
        ...['--jobs', String(jobs), '--rounds', '1', '--scaling-jobs', '60', '--latency-rate', '100', '--latency-seconds', '1'],
        ...['--http-calls', '80', '--http-batches', '1', '--pgboss-default-seconds', '1'],
        ...['--cli', 'src/cli/main.ts', '--benchmarks', benchmarks],
      ],
      {
        cwd: ROOT,
        env: { ...process.env, DATABASE_URL: serverUrl(), REDIS_URL: testRedisUrl() },
        timeout: 280_000,
        maxBuffer: 16 * 2 ** 20,
      },
    );

    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const results = JSON.parse(lines[0]!);
    expect(results).toMatchObject({
      raw_bullmq: { jobs, jobs_per_second: positive, add_bulk_jobs_per_second: positive, rounds_jobs_per_second: [positive] },
      naive: { jobs, jobs_per_second: positive, rounds_jobs_per_second: [positive] },
      jobfleet: {
        jobs,
        processes: 1,
        concurrency: 100,
        jobs_per_second: positive,
        // Every job's four transitions: created, claimed, started, done.
        history_rows: 4 * jobs,
        enqueue_to_running_ms: quantiles,
        enqueue_to_done_ms: quantiles,
        worker_peak_rss_mb: positive,
      },
      graphile_worker: peer(jobs, 'graphile-worker', { concurrent_jobs: 20, local_queue_size: -1 }),
      graphile_worker_batched: peer(jobs, 'graphile-worker', { concurrent_jobs: 20, local_queue_size: 500, complete_job_batch_delay: 0 }),
      pg_boss: peer(jobs, 'pg-boss', { work_loops: 4, batch_size: 1000 }),
      // Time-boxed to a second: pg-boss's defaults poll once every 2 seconds, so it may have done none.
      pg_boss_default: {
        jobs: expect.any(Number),
        jobs_enqueued: jobs,
        seconds: 1,
        jobs_per_second: expect.any(Number),
        config: { peer: 'pg-boss', work_loops: 1, batch_size: null, time_box_seconds: 1 },
      },
      latency_at_half_load: { offered_jobs_per_second: 100, jobs: 100, enqueue_to_running_ms: quantiles, enqueue_to_done_ms: quantiles },
      http: { single_requests: 80, single_jobs_per_second: positive, bulk_jobs: 1_000, bulk_jobs_per_second: positive },
      ratios: {
        jobfleet_vs_raw_bullmq: positive,
        jobfleet_vs_naive: positive,
        jobfleet_vs_graphile_worker: positive,
        jobfleet_vs_graphile_worker_batched: positive,
        jobfleet_vs_pg_boss: positive,
        rounds: [{ raw: positive, naive: positive, graphile_worker: positive, graphile_worker_batched: positive, pg_boss: positive }],
      },
      versions: { graphile_worker: expect.any(String), pg_boss: expect.any(String) },
    });
    expect(results.scaling.map((s: { processes: number; concurrency: number }) => `${s.processes}x${s.concurrency}`)).toEqual([
      '1x10',
      '1x50',
      '1x100',
      '2x10',
      '2x50',
      '2x100',
      '4x10',
      '4x50',
      '4x100',
    ]);
    for (const run of results.scaling) expect(run).toMatchObject({ jobs: 60, jobs_per_second: positive, peak_rss_mb: positive });
    expect(results.ratios.jobfleet_vs_raw_bullmq).toBeCloseTo(results.jobfleet.jobs_per_second / results.raw_bullmq.jobs_per_second, 2);
    expect(results.ratios.jobfleet_vs_pg_boss).toBeCloseTo(results.jobfleet.jobs_per_second / results.pg_boss.jobs_per_second, 2);
    expect(Object.keys(results.targets)).toEqual(
      expect.arrayContaining(['throughput_vs_graphile_worker_batched_1x', 'throughput_vs_pg_boss_1_5x']),
    );
    expect(Object.values(results.targets)).toHaveLength(8);

    const written = readFileSync(benchmarks, 'utf8');
    const block = written.slice(written.indexOf('<!-- bench:results:begin -->'), written.indexOf('<!-- bench:results:end -->'));
    expect(block).toContain(`"date":"${results.date}"`);
    expect(block).toContain('| jobfleet (1 x 100) |');
    expect(block).toMatch(/\| graphile-worker \S+ batched \(concurrentJobs 20, maxPoolSize 21, localQueue.size 500/);
    expect(block).toMatch(/\| pg-boss \S+ best \(4 work\(\) x batchSize 1000, polling 0.5 s\) \|/);
    // The analysis around the block is kept.
    expect(written).toContain('## Where the time goes');
    // The default run leaves the held phase out.
    expect(results).not.toHaveProperty('held_agents');
  });

  it('runs the held phase on its own: agents held, then row writes, WAL and CPU per second while they run', {
    timeout: 180_000,
  }, async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/run.ts',
        ...['--only', 'held', '--held', '30', '--held-processes', '2', '--held-concurrency', '15', '--held-seconds', '1'],
        ...['--cli', 'src/cli/main.ts'],
      ],
      {
        cwd: ROOT,
        env: { ...process.env, DATABASE_URL: serverUrl(), REDIS_URL: testRedisUrl() },
        timeout: 170_000,
        maxBuffer: 16 * 2 ** 20,
      },
    );
    const results = JSON.parse(stdout.trim());
    const rate = expect.any(Number);
    expect(results).toMatchObject({
      held_agents: 30,
      held_processes: 2,
      held_concurrency: 15,
      held_seconds: positive,
      held_row_writes_per_s: rate,
      held_hot_updates_per_s: rate,
      held_job_row_writes_per_s: rate,
      held_wal_bytes_per_s: rate,
      held_worker_cpu_per_s: rate,
      held_sweeper_cpu_per_s: rate,
      held_postgres_cpu_per_s: rate,
      held_worker_rss_mb: positive,
    });
    expect(results).not.toHaveProperty('jobfleet');
  });
  it('runs each jobfleet round tracing off and on with --tracing: every traced job carries a trace and sends its spans', {
    timeout: 180_000,
  }, async () => {
    const jobs = 40;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/run.ts',
        ...['--only', 'jobfleet', '--tracing', '--jobs', String(jobs), '--rounds', '2'],
        ...['--cli', 'src/cli/main.ts'],
      ],
      {
        cwd: ROOT,
        env: { ...process.env, DATABASE_URL: serverUrl(), REDIS_URL: testRedisUrl() },
        timeout: 170_000,
        maxBuffer: 16 * 2 ** 20,
      },
    );
    const results = JSON.parse(stdout.trim());
    const side = (traced: boolean) => ({
      jobs_per_second: positive,
      enqueue_jobs_per_second: positive,
      enqueue_to_running_p99_ms: expect.any(Number),
      enqueue_to_done_p99_ms: expect.any(Number),
      worker_peak_rss_mb: positive,
      traced_jobs: traced ? jobs : 0,
      spans_received: traced ? expect.any(Number) : 0,
    });
    expect(results.tracing).toMatchObject({
      jobs,
      off_jobs_per_second: positive,
      on_jobs_per_second: positive,
      on_vs_off: positive,
      rounds: [
        { first: 'off', off: side(false), on: side(true), on_vs_off: positive },
        { first: 'on', off: side(false), on: side(true), on_vs_off: positive },
      ],
    });
    // Three spans a job from the worker: claim, run, outcome.
    for (const round of results.tracing.rounds) expect(round.on.spans_received).toBe(3 * jobs);
    expect(results.jobfleet.traced_jobs).toBe(0);
  });
});
