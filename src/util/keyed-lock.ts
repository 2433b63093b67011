/**
 * One holder per key at a time, in arrival order, within this process: a promise chain per key.
 * Enough for what only this process touches (a mirror's fetch, a branch name); another process
 * has its own mirrors, so nothing here needs to be shared between processes.
 */
export interface KeyedLock {
  /**
   * Waits for the key, then holds it until the returned function is called (once is enough).
   * When `signal` aborts first, rejects at once with its reason; the turn passes on unused.
   */
  acquire(key: string, signal?: AbortSignal): Promise<() => void>;
  /** Runs `work` holding the key (waiting for it as acquire does). */
  run<T>(key: string, work: () => Promise<T>, signal?: AbortSignal): Promise<T>;
}

export function createKeyedLock(): KeyedLock {
  // The promise that settles when the last holder queued for a key releases it.
  const tails = new Map<string, Promise<void>>();

  const acquire = async (key: string, signal?: AbortSignal): Promise<() => void> => {
    signal?.throwIfAborted();
    const previous = tails.get(key) ?? Promise.resolve();
    let release = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => released);
    tails.set(key, tail);
    let done = false;
    const releaseOnce = () => {
      if (done) return;
      done = true;
      release();
      // Nobody queued behind us: forget the key, so the map holds only keys in use.
      if (tails.get(key) === tail) tails.delete(key);
    };
    await turn(previous, signal, releaseOnce);
    return releaseOnce;
  };

  return {
    acquire,
    run: async (key, work, signal) => {
      const release = await acquire(key, signal);
      try {
        return await work();
      } finally {
        release();
      }
    },
  };
}

/**
 * Waits for `previous` (the holder before us) to release. A waiter that gives up cannot leave the
 * chain, since those behind it wait on its promise: its turn is released as soon as it comes.
 */
function turn(previous: Promise<void>, signal: AbortSignal | undefined, passOn: () => void): Promise<void> {
  if (!signal) return previous;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      reject(signal.reason);
      void previous.then(passOn);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    void previous.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}
