import { describe, expect, it } from 'vitest';
import { type FlushResult, createGroupCommit } from '../../src/util/group-commit.js';

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const ok = <T>(value: T): FlushResult<T> => ({ ok: true, value });

/**
 * The batcher starts flushing from a setImmediate it schedules on the first submit of a tick;
 * one setImmediate of ours, queued after it, runs once that pump is done. This is a turn of the
 * event loop, not a wait on the clock.
 */
const afterPump = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A flush the test finishes by hand: every call is recorded with its items and a deferred for
 * its results, and `nextCall()` resolves when the next call arrives.
 */
function manualFlush<In>() {
  const calls: { items: In[]; done: Deferred<FlushResult<string>[]> }[] = [];
  let waiters: (() => void)[] = [];
  let active = 0;
  let maxActive = 0;
  const flush = async (items: In[]) => {
    active += 1;
    maxActive = Math.max(maxActive, active);
    const done = deferred<FlushResult<string>[]>();
    calls.push({ items, done });
    const waiting = waiters;
    waiters = [];
    for (const wake of waiting) wake();
    try {
      return await done.promise;
    } finally {
      active -= 1;
    }
  };
  /** Resolves with call number `index` once it has been made. */
  const call = async (index: number) => {
    while (calls.length <= index) await new Promise<void>((resolve) => waiters.push(resolve));
    return calls[index]!;
  };
  const answer = (index: number) => calls[index]!.done.resolve(calls[index]!.items.map((item) => ok(`done ${String(item)}`)));
  return { flush, calls, call, answer, maxActive: () => maxActive };
}

describe('group commit', () => {
  it('flushes the items submitted in the same tick together in one batch', async () => {
    const batches: string[][] = [];
    const commit = createGroupCommit<string, string>({
      flush: async (items) => {
        batches.push(items);
        return items.map((item) => ok(item.toUpperCase()));
      },
      maxBatch: 10,
      maxInFlight: 1,
    });
    const results = await Promise.all([commit.submit('a'), commit.submit('b'), commit.submit('c')]);
    expect(results).toEqual(['A', 'B', 'C']);
    expect(batches).toEqual([['a', 'b', 'c']]);
  });

  it('gathers items submitted during a flush into the next batch', async () => {
    const manual = manualFlush<string>();
    const commit = createGroupCommit<string, string>({ flush: manual.flush, maxBatch: 10, maxInFlight: 1 });

    const first = commit.submit('a');
    expect((await manual.call(0)).items).toEqual(['a']);

    const later = [commit.submit('b'), commit.submit('c')];
    await afterPump();
    expect(manual.calls).toHaveLength(1); // b and c wait while a's flush is in flight

    manual.answer(0);
    await expect(first).resolves.toBe('done a');
    expect((await manual.call(1)).items).toEqual(['b', 'c']);
    manual.answer(1);
    await expect(Promise.all(later)).resolves.toEqual(['done b', 'done c']);
    expect(manual.calls).toHaveLength(2);
  });

  it('splits what has gathered into batches of at most maxBatch', async () => {
    const batches: number[][] = [];
    const commit = createGroupCommit<number, number>({
      flush: async (items) => {
        batches.push(items);
        return items.map((item) => ok(item * 10));
      },
      maxBatch: 2,
      maxInFlight: 5,
    });
    const results = await Promise.all([1, 2, 3, 4, 5].map((item) => commit.submit(item)));
    expect(results).toEqual([10, 20, 30, 40, 50]);
    expect(batches).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('never has more than maxInFlight flushes running at once', async () => {
    const manual = manualFlush<number>();
    const commit = createGroupCommit<number, string>({ flush: manual.flush, maxBatch: 1, maxInFlight: 2 });
    const results = Promise.all([1, 2, 3, 4, 5].map((item) => commit.submit(item)));

    await manual.call(1);
    await afterPump();
    expect(manual.calls.map((call) => call.items)).toEqual([[1], [2]]);

    // Finishing one flush frees one slot, and only one.
    manual.answer(0);
    await manual.call(2);
    await afterPump();
    expect(manual.calls).toHaveLength(3);

    for (let index = 1; index < 5; index++) {
      manual.answer(index);
      if (index + 1 < 5) await manual.call(index + 1);
    }
    await expect(results).resolves.toEqual(['done 1', 'done 2', 'done 3', 'done 4', 'done 5']);
    expect(manual.maxActive()).toBe(2);
  });

  it('lets flushes run side by side up to maxInFlight', async () => {
    const manual = manualFlush<number>();
    const commit = createGroupCommit<number, string>({ flush: manual.flush, maxBatch: 1, maxInFlight: 3 });
    const results = Promise.all([1, 2, 3].map((item) => commit.submit(item)));
    await manual.call(2);
    expect(manual.maxActive()).toBe(3);
    [0, 1, 2].forEach((index) => manual.answer(index));
    await expect(results).resolves.toEqual(['done 1', 'done 2', 'done 3']);
  });

  it('rejects only the submitter whose item failed', async () => {
    const refused = new Error('b refused');
    const commit = createGroupCommit<string, string>({
      flush: async (items) => items.map((item) => (item === 'b' ? { ok: false, error: refused } : ok(`done ${item}`))),
      maxBatch: 10,
      maxInFlight: 1,
    });
    const [a, b, c] = await Promise.allSettled([commit.submit('a'), commit.submit('b'), commit.submit('c')]);
    expect(a).toEqual({ status: 'fulfilled', value: 'done a' });
    expect(b).toEqual({ status: 'rejected', reason: refused });
    expect(c).toEqual({ status: 'fulfilled', value: 'done c' });
  });

  it('rejects the items a flush returned no result for', async () => {
    const commit = createGroupCommit<string, string>({
      flush: async (items) => items.slice(0, 1).map((item) => ok(item)),
      maxBatch: 10,
      maxInFlight: 1,
    });
    const [a, b] = await Promise.allSettled([commit.submit('a'), commit.submit('b')]);
    expect(a).toEqual({ status: 'fulfilled', value: 'a' });
    expect(b.status).toBe('rejected');
    expect((b as PromiseRejectedResult).reason).toBeInstanceOf(Error);
    expect(((b as PromiseRejectedResult).reason as Error).message).toMatch(/too few results/);
  });

  it('retries a batch that threw item by item, so a poisoned item fails alone', async () => {
    const batches: string[][] = [];
    const poisoned = new Error('poison cannot be written');
    const commit = createGroupCommit<string, string>({
      flush: async (items) => {
        batches.push(items);
        if (items.includes('poison')) throw items.length === 1 ? poisoned : new Error('the transaction rolled back');
        return items.map((item) => ok(`done ${item}`));
      },
      maxBatch: 10,
      maxInFlight: 1,
    });
    const [a, poison, b] = await Promise.allSettled([commit.submit('a'), commit.submit('poison'), commit.submit('b')]);
    expect(a).toEqual({ status: 'fulfilled', value: 'done a' });
    expect(poison).toEqual({ status: 'rejected', reason: poisoned });
    expect(b).toEqual({ status: 'fulfilled', value: 'done b' });
    expect(batches).toEqual([['a', 'poison', 'b'], ['a'], ['poison'], ['b']]);
  });

  it('rejects every item of a batch with a failure they all share, without retrying them one by one', async () => {
    const unreachable = new Error('the database is unreachable');
    let flushes = 0;
    const commit = createGroupCommit<string, string>({
      flush: async () => {
        flushes += 1;
        throw unreachable;
      },
      maxBatch: 10,
      maxInFlight: 1,
      failsEveryItem: (error) => error === unreachable,
    });
    const settled = await Promise.allSettled([commit.submit('a'), commit.submit('b'), commit.submit('c')]);
    expect(settled).toEqual(['a', 'b', 'c'].map(() => ({ status: 'rejected', reason: unreachable })));
    expect(flushes).toBe(1);
  });

  it('rejects a lone item whose flush threw with that error, without retrying it', async () => {
    const failure = new Error('database is down');
    let flushes = 0;
    const commit = createGroupCommit<string, string>({
      flush: async () => {
        flushes += 1;
        throw failure;
      },
      maxBatch: 10,
      maxInFlight: 1,
    });
    await expect(commit.submit('a')).rejects.toBe(failure);
    expect(flushes).toBe(1);
  });

  it('keeps working after a flush threw', async () => {
    let fail = true;
    const commit = createGroupCommit<string, string>({
      flush: async (items) => {
        if (fail) throw new Error('once');
        return items.map((item) => ok(item));
      },
      maxBatch: 10,
      maxInFlight: 1,
    });
    await expect(commit.submit('a')).rejects.toThrow('once');
    fail = false;
    await expect(commit.submit('b')).resolves.toBe('b');
    await expect(commit.drain()).resolves.toBeUndefined();
  });

  it('drains at once when nothing is pending or in flight', async () => {
    const commit = createGroupCommit<string, string>({ flush: async (items) => items.map(ok), maxBatch: 10, maxInFlight: 1 });
    await expect(commit.drain()).resolves.toBeUndefined();
  });

  it('drains only when nothing is pending or in flight', async () => {
    const manual = manualFlush<string>();
    const commit = createGroupCommit<string, string>({ flush: manual.flush, maxBatch: 10, maxInFlight: 1 });
    const events: string[] = [];

    void commit.submit('a').then((value) => events.push(value));
    // Called while 'a' is still pending, before any flush has started.
    void commit.drain().then(() => events.push('drained'));

    await manual.call(0);
    void commit.submit('b').then((value) => events.push(value));
    await afterPump();
    expect(events).toEqual([]); // 'a' in flight, 'b' pending

    manual.answer(0);
    await manual.call(1);
    await afterPump();
    expect(events).toEqual(['done a']); // 'b' in flight

    manual.answer(1);
    await commit.drain();
    expect(events).toEqual(['done a', 'done b', 'drained']);
  });
});
