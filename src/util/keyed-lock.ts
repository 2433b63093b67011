/**
 * One holder per key at a time, in arrival order, within this process: a promise chain per key.
 * Enough for what only this process touches (a mirror's fetch, a branch name); another process
 * has its own mirrors, so nothing here needs to be shared between processes.
 */
export interface KeyedLock {
  /** Waits for the key, then holds it until the returned function is called (once is enough). */
  acquire(key: string): Promise<() => void>;
  /** Runs `work` holding the key. */
  run<T>(key: string, work: () => Promise<T>): Promise<T>;
}

export function createKeyedLock(): KeyedLock {
  // The promise that settles when the last holder queued for a key releases it.
  const tails = new Map<string, Promise<void>>();

  const acquire = async (key: string): Promise<() => void> => {
    const previous = tails.get(key) ?? Promise.resolve();
    let release = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => released);
    tails.set(key, tail);
    await previous;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      release();
      // Nobody queued behind us: forget the key, so the map holds only keys in use.
      if (tails.get(key) === tail) tails.delete(key);
    };
  };

  return {
    acquire,
    run: async (key, work) => {
      const release = await acquire(key);
      try {
        return await work();
      } finally {
        release();
      }
    },
  };
}
