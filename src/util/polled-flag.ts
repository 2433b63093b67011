/**
 * A yes/no fact about the fleet read again every `refreshMs` (does any owner have a budget? a
 * cap?), so that a fleet that uses neither pays one tiny query per interval and nothing per job.
 * A read that fails keeps the last answer. Until the first read answers, the flag says yes: the
 * facts are rules to judge, and judging a rule nobody has costs a query, while skipping one that
 * exists breaks it (a worker just started would claim past an owner's cap).
 */
export interface PolledFlag {
  get(): boolean;
  close(): void;
}

export function pollFlag(read: () => Promise<boolean>, refreshMs: number): PolledFlag {
  let value = true;
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
