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

  it('a waiter whose signal aborts rejects at once with its reason, and its turn passes on to the next', async () => {
    const lock = createKeyedLock();
    const releaseFirst = await lock.acquire('k');
    const controller = new AbortController();
    const aborted = lock.acquire('k', controller.signal);
    const next = lock.acquire('k');
    controller.abort(new Error('job cancelled'));
    await expect(aborted).rejects.toThrow('job cancelled');
    let nextHolds = false;
    void next.then(() => (nextHolds = true));
    await Promise.resolve();
    expect(nextHolds).toBe(false);
    releaseFirst();
    (await next)();
    expect(await lock.run('k', async () => 'free again')).toBe('free again');
  });

  it('an already aborted signal rejects without queueing; a signal that never aborts changes nothing', async () => {
    const lock = createKeyedLock();
    await expect(lock.acquire('k', AbortSignal.abort(new Error('too late')))).rejects.toThrow('too late');
    expect(await lock.run('k', async () => 'ran', new AbortController().signal)).toBe('ran');
  });
});
