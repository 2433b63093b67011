/**
 * The memo of the dashboard's closed buckets: bounded to the scopes used last, never overwritten
 * by a call that started from an older state, and keyed so that no owner id spells another scope.
 */
import { describe, expect, it } from 'vitest';
import { seriesMemoKey } from '../../src/metrics/history-series.js';
import { CLOSE_MARGIN_MS, seriesFrame } from '../../src/metrics/series-frame.js';
import { createSeriesMemo, type SeriesMemoState } from '../../src/metrics/series-memo.js';

const state = (closedUntil: number): SeriesMemoState => ({ closedUntil, buckets: new Map(), days: new Map() });

describe('the series memo', () => {
  it('keeps at most its bound of scopes, dropping the least recently used first', () => {
    const memo = createSeriesMemo(3);
    for (const key of ['a', 'b', 'c']) memo.replace(key, undefined, state(1));
    expect(memo.get('a')).toBeDefined(); // now the most recent
    memo.replace('d', undefined, state(1));
    expect(memo.size).toBe(3);
    expect(memo.get('b')).toBeUndefined();
    expect(['a', 'c', 'd'].map((key) => memo.get(key)?.closedUntil)).toEqual([1, 1, 1]);
  });

  it('keeps a next state only over the state it was made from: a slower concurrent call does not add its fold twice', () => {
    const memo = createSeriesMemo();
    const first = state(1);
    memo.replace('k', undefined, first);
    const second = state(2);
    memo.replace('k', first, second);
    memo.replace('k', first, state(3)); // made from `first` too, finished later: dropped
    memo.replace('k', undefined, state(4));
    expect(memo.get('k')).toBe(second);
  });

  it('keys every scope apart: fleet-wide with and without costs by owner, and owners named like them', () => {
    const keys = [
      seriesMemoKey({ range: '1h', ownerId: null, byOwner: true }),
      seriesMemoKey({ range: '1h', ownerId: null, byOwner: false }),
      seriesMemoKey({ range: '1h', ownerId: 'null', byOwner: false }),
      seriesMemoKey({ range: '1h', ownerId: '*', byOwner: false }),
      seriesMemoKey({ range: '1h', ownerId: 'a","b', byOwner: false }),
      seriesMemoKey({ range: '24h', ownerId: null, byOwner: true }),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('closes a bucket once its end is the margin in the past', () => {
    expect(CLOSE_MARGIN_MS).toBe(120_000);
    // 1h: at 12:30:30 the buckets up to 12:28:00 ended by 12:28:30; the one ending 12:29:00 is still open.
    expect(seriesFrame('1h', new Date('2026-03-10T12:30:30Z')).closeAt.toISOString()).toBe('2026-03-10T12:28:00.000Z');
    expect(seriesFrame('1h', new Date('2026-03-10T12:31:00Z')).closeAt.toISOString()).toBe('2026-03-10T12:29:00.000Z');
    // 7d: the hour that ended at 12:00 closes at 12:02.
    expect(seriesFrame('7d', new Date('2026-03-10T12:01:59Z')).closeAt.toISOString()).toBe('2026-03-10T11:00:00.000Z');
    expect(seriesFrame('7d', new Date('2026-03-10T12:02:00Z')).closeAt.toISOString()).toBe('2026-03-10T12:00:00.000Z');
  });
});
