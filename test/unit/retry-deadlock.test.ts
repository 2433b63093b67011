import { describe, expect, it } from 'vitest';
import { retryOnDeadlock } from '../../src/db/retry-deadlock.js';

const deadlock = () => Object.assign(new Error('deadlock detected'), { code: '40P01' });

describe('retryOnDeadlock', () => {
  it('runs a transaction chosen as a deadlock victim again, and answers what the retry answers', async () => {
    let calls = 0;
    const answer = await retryOnDeadlock(async () => {
      calls += 1;
      if (calls === 1) throw deadlock();
      return 'committed';
    });
    expect([answer, calls]).toEqual(['committed', 2]);
  });

  it('gives up after its attempts with the deadlock error', async () => {
    let calls = 0;
    const failing = retryOnDeadlock(async () => {
      calls += 1;
      throw deadlock();
    }, 3);
    await expect(failing).rejects.toMatchObject({ code: '40P01' });
    expect(calls).toBe(3);
  });

  it('does not run again after any other error', async () => {
    let calls = 0;
    const failing = retryOnDeadlock(async () => {
      calls += 1;
      throw Object.assign(new Error('unique violation'), { code: '23505' });
    });
    await expect(failing).rejects.toThrow('unique violation');
    expect(calls).toBe(1);
  });
});
