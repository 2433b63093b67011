/**
 * One read of Postgres shared by the metrics that need it: prom-client collects a registry's
 * metrics together, so the collectors that ask while a read is under way share it; an answer is
 * then kept `keepMs` (METRICS_KEEP_MS), so that scrapes arriving closer together than that (a
 * second Prometheus, someone reloading /metrics) cost the database nothing more. A failed read is
 * not kept: the next scrape reads again.
 */
export function scrapeRead<T>(read: () => Promise<T>, keepMs: number, now: () => number = () => performance.now()): () => Promise<T> {
  let inFlight: Promise<T> | null = null;
  let kept: { at: number; answer: T } | null = null;
  return () => {
    if (inFlight) return inFlight;
    if (kept && now() - kept.at < keepMs) return Promise.resolve(kept.answer);
    const started = now();
    inFlight = read()
      .then((answer) => {
        kept = { at: started, answer };
        return answer;
      })
      .finally(() => {
        inFlight = null;
      });
    return inFlight;
  };
}
