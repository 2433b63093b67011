/**
 * Answers kept for a short while per key, so that many callers polling the same question cost one
 * computation per interval: a call within `keepMs` of the kept one gets it (also while it is still
 * in flight), a failed one is not kept, and answers past their time are dropped when a new one is
 * kept, so the keys ever asked (every owner, for the fleet's series) do not pile up in memory.
 */
export interface KeptAnswers<T> {
  get(key: string, compute: () => Promise<T>): Promise<T>;
  /** How many answers are held (for tests). */
  readonly size: number;
}

export function createKeptAnswers<T>(keepMs: number, now: () => number = () => performance.now()): KeptAnswers<T> {
  const kept = new Map<string, { at: number; answer: Promise<T> }>();
  return {
    get(key, compute) {
      const at = now();
      const held = kept.get(key);
      if (held && at - held.at < keepMs) return held.answer;
      for (const [other, entry] of kept) if (at - entry.at >= keepMs) kept.delete(other);
      const answer = compute();
      kept.set(key, { at, answer });
      // A failed computation is not kept: the next call tries again.
      answer.catch(() => kept.get(key)?.answer === answer && kept.delete(key));
      return answer;
    },
    get size() {
      return kept.size;
    },
  };
}
