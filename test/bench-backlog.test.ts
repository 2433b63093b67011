/**
 * `npm run bench:backlog` in miniature: volumes small enough to build in seconds, in databases of
 * its own (dropped at the end). What it checks is what the figures rest on: the generated backlog
 * survives the sweep (every queued job has a subject of its own, so nothing is superseded) and
 * the first sweep adds every queued job to Redis, the second nothing; every route answers; and its
 * column of BENCHMARKS.md is written. No time is asserted.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { SECTION_TITLE } from '../bench/backlog-report.js';
import { maintenanceUrl } from '../src/db/ensure-database.js';
import { serverUrl, TEST_DB_PREFIX, uniqueSuffix } from './helpers/names.js';

const ROOT = path.join(import.meta.dirname, '..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'jobfleet-bench-backlog-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Sweep {
  report: Record<string, number>;
  cpuS: number;
  wallS: number;
}

describe('the backlog bench', () => {
  it('builds its volumes, sweeps them without losing one, times every route and writes its column', { timeout: 280_000 }, async () => {
    const benchmarks = path.join(dir, 'BENCHMARKS.md');
    copyFileSync(path.join(ROOT, 'BENCHMARKS.md'), benchmarks);
    const db = `${TEST_DB_PREFIX}${uniqueSuffix()}`;
    await promisify(execFile)(
      process.execPath,
      [
        ...['--import', 'tsx', 'bench/backlog.ts', '--label', 'after', '--db', db],
        ...['--small', '20,200', '--queued', '300', '--finished', '100', '--calls', '1', '--repeats', '1'],
        ...['--cli', 'src/cli/main.ts', '--benchmarks', benchmarks, '--results', dir],
      ],
      { cwd: ROOT, env: { ...process.env, DATABASE_URL: serverUrl() }, timeout: 270_000, maxBuffer: 16 * 2 ** 20 },
    );

    const results = JSON.parse(readFileSync(path.join(dir, 'backlog-after.json'), 'utf8'));
    expect(results.volumes).toMatchObject({ queued: 300, jobs: 400, history: 2 * 300 + 4 * 100 });
    const sweeps = results.raw.sweeps as { queued: number; first: Sweep; second: Sweep[] }[];
    expect(sweeps.map((series) => series.queued)).toEqual([20, 200, 300]);
    for (const { queued, first, second } of sweeps) {
      expect(first.report).toMatchObject({ readded: queued, superseded: 0, requeued: 0, lost: 0 });
      expect(second).toHaveLength(1);
      expect(second[0]!.report).toMatchObject({ readded: 0, superseded: 0 });
      expect(first.cpuS).toBeGreaterThan(0);
    }
    expect(results.acceptance.extraCpuS).toEqual(expect.any(Number));
    for (const answer of results.raw.http as { path: string; status: number }[])
      expect([answer.path, answer.status]).toEqual([answer.path, 200]);
    for (const replay of results.raw.replays as { key: string; timedOut: boolean; events: number }[]) {
      expect([replay.key, replay.timedOut]).toEqual([replay.key, false]);
    }

    const text = readFileSync(benchmarks, 'utf8');
    expect(text.split(SECTION_TITLE)).toHaveLength(2);
    expect(text).toMatch(/\| Sweep 2 at 200 queued \(nothing lost\), median of 1 \| [^|]+ \| \d+\.\d\d s wall, /);

    // Without --keep, its databases are gone.
    const admin = new pg.Client({ connectionString: maintenanceUrl(serverUrl()) });
    await admin.connect();
    try {
      const { rows } = await admin.query('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${db}%`]);
      expect(rows).toEqual([]);
    } finally {
      await admin.end();
    }
  });
});
