/**
 * The waits of ask_user and wait_for_job: look again every `everyMs`, or at once when `wake` is
 * called (a live event said something changed), until the check answers, the deadline passes or
 * the request goes away. Between looks, `tick` runs (a pull-mode job's lease is renewed there),
 * and clients that sent a progress token are told the tool is still waiting, so they do not time
 * it out (the MCP SDK's client does so after 60 s unless progress resets its clock).
 */
export interface WaitOptions<T> {
  check: () => Promise<T | undefined>;
  deadline: number;
  signal: AbortSignal;
  everyMs: number;
  /** Runs about every `tickMs` while waiting. */
  tick?: () => Promise<void>;
  tickMs?: number;
  /** Called with a function that cuts the current pause short. */
  onWake?: (wake: () => void) => () => void;
}

export async function waitUntil<T>(options: WaitOptions<T>): Promise<T | undefined> {
  let wake: () => void = () => undefined;
  const stopWaking = options.onWake?.(() => wake()) ?? (() => undefined);
  let nextTick = Date.now() + (options.tickMs ?? Number.POSITIVE_INFINITY);
  try {
    for (;;) {
      // A caller that went away must not be handed anything more (a claim nobody would work on).
      if (options.signal.aborted) return undefined;
      const found = await options.check();
      if (found !== undefined) return found;
      const now = Date.now();
      if (now >= options.deadline || options.signal.aborted) return undefined;
      if (options.tick && now >= nextTick) {
        await options.tick();
        nextTick = now + (options.tickMs ?? Number.POSITIVE_INFINITY);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(options.everyMs, Math.max(0, options.deadline - now)));
        const onAbort = () => done();
        options.signal.addEventListener('abort', onAbort, { once: true });
        function done() {
          clearTimeout(timer);
          options.signal.removeEventListener('abort', onAbort);
          wake = () => undefined;
          resolve();
        }
        wake = done;
      });
    }
  } finally {
    stopWaking();
  }
}
