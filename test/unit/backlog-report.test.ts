import { describe, expect, it } from 'vitest';
import { type BacklogResults, type Label, renderSection, SECTION_TITLE, withSection } from '../../bench/backlog-report.js';

const results = (label: Label, sweepCpu: string, extraCpuS: number, rows: { key: string; value: string }[] = []): BacklogResults => ({
  label,
  commit: label === 'before' ? 'aaaaaaa' : 'bbbbbbb',
  takenAt: '2026-01-02T03:04:05.000Z',
  volumes: { queued: 1_000_000, jobs: 3_000_000, history: 10_000_000, historySize: '2 GB', jobsSize: '1 GB' },
  acceptance: { extraCpuS, targetS: 0.18, met: extraCpuS <= 0.18 },
  rows: [
    { key: 'sweep-second-100000', measurement: 'Sweep 2 at 100,000 queued', value: sweepCpu },
    ...rows.map((row) => ({ ...row, measurement: `Measurement ${row.key}` })),
  ],
  raw: null,
});

const BENCHMARKS = '# Benchmarks\n\n## Earlier\n\nText.\n\n## Targets met and missed, and what limits them\n\nMore.\n';

describe("the backlog bench's BENCHMARKS.md section", () => {
  it('pairs the two columns by measurement and marks what one run lacks', () => {
    const section = renderSection(
      results('before', '3.1 s CPU', 1.8, [{ key: 'metrics', value: '900 ms' }]),
      results('after', '1.4 s CPU', 0.1, [{ key: 'replay', value: '0.2 s' }]),
    );
    expect(section).toContain('| Sweep 2 at 100,000 queued | 3.1 s CPU | 1.4 s CPU |');
    expect(section).toContain('| Measurement metrics | 900 ms | — |');
    expect(section).toContain('| Measurement replay | — | 0.2 s |');
    expect(section).toContain('- before: 1.80 s extra CPU (missed: target ≤ 0.18 s)');
    expect(section).toContain('- after: 0.10 s extra CPU (met: target ≤ 0.18 s)');
  });

  it('leaves the after column empty until it is measured', () => {
    const section = renderSection(results('before', '3.1 s CPU', 1.8), null);
    expect(section).toContain('| Sweep 2 at 100,000 queued | 3.1 s CPU | — |');
    expect(section).toContain('- after: —');
    expect(section).toContain('after: not measured yet.');
  });

  it('goes in before the targets section once, and a later run replaces it in place', () => {
    const first = withSection(BENCHMARKS, renderSection(results('before', '3.1 s CPU', 1.8), null));
    expect(first.indexOf(SECTION_TITLE)).toBeGreaterThan(first.indexOf('## Earlier'));
    expect(first.indexOf(SECTION_TITLE)).toBeLessThan(first.indexOf('## Targets met and missed'));

    const second = withSection(first, renderSection(results('before', '3.1 s CPU', 1.8), results('after', '1.4 s CPU', 0.1)));
    expect(second.split(SECTION_TITLE)).toHaveLength(2);
    expect(second).toContain('| Sweep 2 at 100,000 queued | 3.1 s CPU | 1.4 s CPU |');
    expect(second).not.toContain('| Sweep 2 at 100,000 queued | 3.1 s CPU | — |');
    expect(second.endsWith('## Targets met and missed, and what limits them\n\nMore.\n')).toBe(true);
  });
});
