import { describe, expect, it } from 'vitest';
import { createKeyedLock } from '../../src/util/keyed-lock.js';

describe('keyed lock', () => {
  it('holders of one key run one at a time in arrival order; other keys do not wait', async () => {
    const lock = createKeyedLock();
    const events: string[] = [];
    const releaseA1 = await lock.acquire('a');
    const a2 = lock.acquire('a').then((release) => {
      events.push('a2 holds');
      return release;
    });
    const a3 = lock.run('a', async () => {
      events.push('a3 runs');
    });
    await lock.run('b', async () => {
      events.push('b runs');
    });
    expect(events).toEqual(['b runs']);
    releaseA1();
    releaseA1(); // twice is once
    const releaseA2 = await a2;
    expect(events).toEqual(['b runs', 'a2 holds']);
    releaseA2();
    await a3;
    expect(events).toEqual(['b runs', 'a2 holds', 'a3 runs']);
  });

  it('a failing holder releases the key', async () => {
    const lock = createKeyedLock();
    await expect(lock.run('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await lock.run('k', async () => 'next')).toBe('next');
  });
});
