import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type HostsResults, whatBinds, writeHostsSection } from '../../bench/scale-hosts-report.js';

const run = (jobsPerSecond: number, machine: number, postgres = 0.5) => ({
  hosts: 1,
  worker_processes: 1,
  jobs: 1_000,
  seconds: 1,
  jobs_per_second: jobsPerSecond,
  ceiling_jobs_per_second: 400,
  cores: { postgres, redis: 0.1, workers: 0.3, sweeper: 0.1, other: 0.1, machine },
});

const results = (jobsPerSecond: number): HostsResults => ({
  date: '2026-01-02T00:00:00.000Z',
  command: 'npm run scale:hosts',
  machine: { cores: 2, cpu: 'test', memory_gb: 1 },
  versions: { node: 'v20', postgres: '15', redis: '7', bullmq: '6' },
  setup: {
    jobs: 1_000,
    workers_per_host: 1,
    concurrency: 20,
    dry_run_delay_ms: 50,
    queue_shards: 3,
    redis_masters: 3,
    redis_replicas_per_master: 1,
    subnet: '10.213.0.0/24',
    link_delay: 'none',
  },
  runs: [{ ...run(jobsPerSecond, 1), binds: 'x' }],
  duration_seconds: 1,
});

describe('what binds a scale:hosts run', () => {
  it('names the slots when the run comes near what they allow', () => {
    expect(whatBinds(run(380, 1), 2)).toBe('the slots: concurrency / delay');
  });

  it('names the CPU and its largest user when the cores are nearly all busy', () => {
    expect(whatBinds(run(200, 1.95, 0.9), 2)).toBe('the CPU (1.95 of 2 cores busy; most: postgres, 0.90)');
  });

  it('names neither when the slots and the cores both have room', () => {
    expect(whatBinds(run(200, 1), 2)).toMatch(/^neither/);
  });
});

describe('the Workers on many hosts section of BENCHMARKS.md', () => {
  let dir: string | null = null;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = null;
  });

  it('is added once at the end, then only its block is replaced, every other line kept', () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'jobfleet-scale-report-'));
    const file = path.join(dir, 'BENCHMARKS.md');
    writeFileSync(file, '# Benchmarks\n\n## Results\n\nkept\n');
    writeHostsSection(results(111), file);
    writeFileSync(file, `${readFileSync(file, 'utf8')}\nanalysis after the block\n`);
    writeHostsSection(results(222), file);
    const text = readFileSync(file, 'utf8');
    expect(text.match(/## Workers on many hosts/g)).toHaveLength(1);
    expect(text).toContain('## Results\n\nkept\n');
    expect(text).toContain('analysis after the block');
    expect(text).toContain('| 1 | 1 x 20 | 222 |');
    expect(text).not.toContain('| 1 | 1 x 20 | 111 |');
  });
});
