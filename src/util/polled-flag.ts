/**
 * A yes/no fact about the fleet read again every `refreshMs` (does any owner have a budget? a
 * cap?), so that a fleet that uses neither pays one tiny query per interval and nothing per job.
 * A read that fails keeps the last answer.
 */
export interface PolledFlag {
  get(): boolean;
  close(): void;
}

export function pollFlag(read: () => Promise<boolean>, refreshMs: number): PolledFlag {
  let value = false;
  const refresh = () => {
    read().then(
      (found) => {
        value = found;
      },
      () => undefined,
    );
  };
  refresh();
  const timer = setInterval(refresh, refreshMs);
  timer.unref();
  return { get: () => value, close: () => clearInterval(timer) };
}
