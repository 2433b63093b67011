/**
 * jobfleet reads timestamptz columns with its own parser; it must give exactly the Date (or the
 * infinity) that pg's own parser gives, for every text Postgres can send.
 */
import fc from 'fast-check';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { parseTimestamptz } from '../../src/db/timestamp-parser.js';

const pgParse = pg.types.getTypeParser(1184, 'text') as (text: string) => unknown;
const same = (text: string) => expect(parseTimestamptz(text), text).toEqual(pgParse(text));

const pad = (n: number, width = 2) => String(n).padStart(width, '0');
/** A timestamptz as Postgres writes it in DateStyle ISO. */
const timestamptzText = fc
  .record({
    year: fc.integer({ min: 1, max: 12000 }),
    month: fc.integer({ min: 1, max: 12 }),
    day: fc.integer({ min: 1, max: 28 }),
    hour: fc.integer({ min: 0, max: 23 }),
    minute: fc.integer({ min: 0, max: 59 }),
    second: fc.integer({ min: 0, max: 59 }),
    fraction: fc.option(fc.stringMatching(/^[0-9]{1,6}$/), { nil: undefined }),
    offsetSign: fc.constantFrom('+', '-'),
    offsetHours: fc.integer({ min: 0, max: 15 }),
    offsetMinutes: fc.option(fc.constantFrom(0, 15, 30, 45), { nil: undefined }),
    offsetSeconds: fc.option(fc.integer({ min: 1, max: 59 }), { nil: undefined }),
    bc: fc.boolean(),
  })
  .map((t) => {
    const fraction = t.fraction === undefined ? '' : `.${t.fraction}`;
    const minutes = t.offsetMinutes === undefined ? '' : `:${pad(t.offsetMinutes)}`;
    const seconds = t.offsetMinutes === undefined || t.offsetSeconds === undefined ? '' : `:${pad(t.offsetSeconds)}`;
    const year = pad(t.year, 4);
    return `${year}-${pad(t.month)}-${pad(t.day)} ${pad(t.hour)}:${pad(t.minute)}:${pad(t.second)}${fraction}${t.offsetSign}${pad(t.offsetHours)}${minutes}${seconds}${t.bc ? ' BC' : ''}`;
  });

describe('the timestamptz parser', () => {
  it('reads what Postgres writes exactly as pg does', () => {
    for (const text of [
      '2026-12-02 06:21:34.812345+00',
      '2026-12-02 06:21:34+00',
      '2026-12-02 06:21:34.8+05:30',
      '1999-12-31 23:59:59.999999-03',
      '2026-03-01 00:00:00.0005+14',
      '1900-01-01 00:00:00+00:19:32',
      '0099-06-15 12:00:00+00',
      '0044-03-15 12:00:00+00 BC',
      '12026-12-02 06:21:34+00',
      'infinity',
      '-infinity',
    ]) {
      same(text);
    }
  });

  it('agrees with pg on any timestamp, fraction and offset', () => {
    fc.assert(
      fc.property(timestamptzText, (text) => {
        same(text);
      }),
      { numRuns: 5_000 },
    );
  });

  it('leaves whatever is not a timestamp to pg', () => {
    for (const text of ['2026-12-02', 'not a date', '2026-12-02T06:21:34Z', '2026-12-02 06:21:34.81a+00', '2026-12-02 06:21:34+0']) same(text);
  });
});
