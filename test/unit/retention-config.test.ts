import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { retentionPolicyOf } from '../../src/retention/index.js';

describe('retention configuration', () => {
  it('keeps job history 30 days and jobs 90 days, a batch of 5,000 rows per walk, by default', () => {
    const config = loadConfig({});
    expect(config.HISTORY_RETENTION_DAYS).toBe(30);
    expect(config.JOB_RETENTION_DAYS).toBe(90);
    expect(retentionPolicyOf(config)).toEqual({ historyDays: 30, jobDays: 90, batch: 5_000 });
  });

  it('reads `forever` as keeping for ever, in any case', () => {
    const config = loadConfig({ HISTORY_RETENTION_DAYS: 'forever', JOB_RETENTION_DAYS: 'Forever' });
    expect(retentionPolicyOf(config)).toEqual({ historyDays: null, jobDays: null, batch: 5_000 });
  });

  it('takes whole days from 8 up, and a batch of its own', () => {
    const config = loadConfig({ HISTORY_RETENTION_DAYS: '8', JOB_RETENTION_DAYS: ' 365 ', RETENTION_BATCH: '200' });
    expect(retentionPolicyOf(config)).toEqual({ historyDays: 8, jobDays: 365, batch: 200 });
  });

  it.each([
    ['HISTORY_RETENTION_DAYS', '7'],
    ['HISTORY_RETENTION_DAYS', '0'],
    ['JOB_RETENTION_DAYS', '-1'],
    ['JOB_RETENTION_DAYS', '30.5'],
    ['JOB_RETENTION_DAYS', 'never'],
    ['HISTORY_RETENTION_DAYS', '36501'],
  ])('refuses %s=%s, naming what is allowed (the series read up to 8 days of history)', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(
      `${name}=${JSON.stringify(value)} is not allowed: expected an integer from 8 to 36500 (days), or forever`,
    );
  });

  it('refuses a batch of no rows', () => {
    expect(() => loadConfig({ RETENTION_BATCH: '0' })).toThrow('RETENTION_BATCH="0" is not allowed: expected an integer from 1 to 1000000');
  });
});
