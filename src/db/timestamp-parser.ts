/**
 * Reading timestamptz columns. A job row carries six of them and the worker reads two rows per
 * job, so pg's generic parser (postgres-date: three regular expressions and their match arrays
 * per value) was a twentieth of a worker's allocations. Postgres writes these values in one
 * shape, `2026-12-02 06:21:34.812345+00` (DateStyle ISO), which is read here digit by digit;
 * anything else (BC dates, infinity, years before 1000 or after 9999) goes to pg's own parser,
 * so the Date is always the one pg would have made.
 */
import pg from 'pg';

const TIMESTAMPTZ = 1184;
const generic = pg.types.getTypeParser(TIMESTAMPTZ, 'text') as (value: string) => Date | number | null;

/** `text.charCodeAt(at)` as a digit, or -1. */
function digit(text: string, at: number): number {
  const code = text.charCodeAt(at) - 48;
  return code >= 0 && code <= 9 ? code : -1;
}

function twoDigits(text: string, at: number): number {
  const tens = digit(text, at);
  const ones = digit(text, at + 1);
  return tens < 0 || ones < 0 ? -1 : tens * 10 + ones;
}

/** Milliseconds since the epoch, or NaN when `text` is not in the one shape read here. */
function fastParse(text: string): number {
  if (text.length < 22 || text[4] !== '-' || text[7] !== '-' || text[10] !== ' ' || text[13] !== ':' || text[16] !== ':') return NaN;
  const century = twoDigits(text, 0);
  const yearInCentury = twoDigits(text, 2);
  const month = twoDigits(text, 5);
  const day = twoDigits(text, 8);
  const hour = twoDigits(text, 11);
  const minute = twoDigits(text, 14);
  const second = twoDigits(text, 17);
  if (century < 10 || yearInCentury < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return NaN;

  let at = 19;
  let millis = 0;
  if (text[at] === '.') {
    at += 1;
    // Date keeps milliseconds: the first three fraction digits, the rest dropped (as pg does).
    for (let scale = 100, d = digit(text, at); d >= 0; d = digit(text, ++at), scale = Math.floor(scale / 10)) millis += d * scale;
  }

  const sign = text[at] === '+' ? 1 : text[at] === '-' ? -1 : 0;
  const offsetHours = twoDigits(text, at + 1);
  if (sign === 0 || offsetHours < 0) return NaN;
  at += 3;
  let offsetSeconds = offsetHours * 3600;
  for (const unit of [60, 1]) {
    if (at === text.length) break;
    const part = text[at] === ':' ? twoDigits(text, at + 1) : -1;
    if (part < 0) return NaN;
    offsetSeconds += part * unit;
    at += 3;
  }
  if (at !== text.length) return NaN;
  return Date.UTC(century * 100 + yearInCentury, month - 1, day, hour, minute, second, millis) - sign * offsetSeconds * 1000;
}

export function parseTimestamptz(text: string): Date | number | null {
  const time = fastParse(text);
  return Number.isNaN(time) ? generic(text) : new Date(time);
}

/** pg's type parsers, with timestamptz read by parseTimestamptz; for a pool's `types` option. */
export const databaseTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === TIMESTAMPTZ && format !== 'binary') return parseTimestamptz;
    return pg.types.getTypeParser(oid, format);
  },
};
