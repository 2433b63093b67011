/**
 * A schedule's timing: exactly one of a cron expression and an interval, a cron expression the
 * scheduler can run (refused naming the field and the expression), an IANA zone, and the next
 * firing time the API shows.
 */
import { describe, expect, it } from 'vitest';
import { isAppError } from '../../src/errors/app-error.js';
import { checkedTiming, MAX_EVERY_MS, nextFireAt } from '../../src/schedules/schedule-timing.js';

function refusal(timing: Parameters<typeof checkedTiming>[0]) {
  try {
    checkedTiming(timing);
  } catch (error) {
    if (isAppError(error, 'validation_failed'))
      return { message: error.message, paths: (error.details.issues as { path: string }[]).map((i) => i.path) };
    throw error;
  }
  throw new Error('accepted');
}

describe('schedule timing', () => {
  it('accepts a cron expression in a zone, spelling the zone canonically, and an interval', () => {
    expect(checkedTiming({ cron: '0 2 * * *', everyMs: null, timezone: 'europe/paris' })).toEqual({
      cron: '0 2 * * *',
      everyMs: null,
      timezone: 'Europe/Paris',
    });
    expect(checkedTiming({ cron: null, everyMs: 1_000, timezone: 'UTC' }).everyMs).toBe(1_000);
    expect(checkedTiming({ cron: '*/10 * * * * *', everyMs: null, timezone: 'UTC' }).cron).toBe('*/10 * * * * *');
  });

  it('refuses a bad cron expression naming cron and the expression', () => {
    for (const cron of ['not a cron', '61 * * * *', '* * * * * * *', ' ', 'H * * * *', '0 0 30 2 *']) {
      const { message, paths } = refusal({ cron, everyMs: null, timezone: 'UTC' });
      expect(paths).toEqual(['cron']);
      expect(message).toContain(`"${cron}"`);
    }
  });

  it('refuses both or neither of cron and every_ms, an interval out of range, and an unknown zone', () => {
    expect(refusal({ cron: '* * * * *', everyMs: 1_000, timezone: 'UTC' }).paths).toEqual(['cron', 'every_ms']);
    expect(refusal({ cron: null, everyMs: null, timezone: 'UTC' }).paths).toEqual(['cron', 'every_ms']);
    expect(refusal({ cron: null, everyMs: 999, timezone: 'UTC' }).paths).toEqual(['every_ms']);
    expect(refusal({ cron: null, everyMs: MAX_EVERY_MS + 1, timezone: 'UTC' }).paths).toEqual(['every_ms']);
    expect(refusal({ cron: null, everyMs: 1_500.5, timezone: 'UTC' }).paths).toEqual(['every_ms']);
    expect(refusal({ cron: '0 2 * * *', everyMs: null, timezone: 'Mars/Olympus_Mons' })).toMatchObject({
      paths: ['timezone'],
      message: expect.stringContaining('Mars/Olympus_Mons'),
    });
  });

  it('computes the next firing: a cron expression in its zone, an interval after its last firing', () => {
    const now = new Date('2026-03-10T12:00:00Z');
    // 02:00 in Paris (UTC+1 in March before the change) is 01:00 UTC, the next day.
    expect(nextFireAt({ cron: '0 2 * * *', everyMs: null, timezone: 'Europe/Paris' }, null, now).toISOString()).toBe(
      '2026-03-11T01:00:00.000Z',
    );
    expect(nextFireAt({ cron: '0 2 * * *', everyMs: null, timezone: 'UTC' }, null, now).toISOString()).toBe('2026-03-11T02:00:00.000Z');
    const every = { cron: null, everyMs: 60_000, timezone: 'UTC' };
    expect(nextFireAt(every, null, now)).toEqual(now);
    expect(nextFireAt(every, new Date('2026-03-10T11:59:30Z'), now).toISOString()).toBe('2026-03-10T12:00:30.000Z');
    expect(nextFireAt(every, new Date('2026-03-10T11:00:00Z'), now)).toEqual(now);
  });
});
