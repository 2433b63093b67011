/**
 * What the dashboard's series keep of the past, per owner scope and range (bucket width), in the
 * API process: the figures of the CLOSED buckets (src/metrics/series-frame.ts CLOSE_MARGIN_MS) and
 * the days' usage up to where the closed buckets end. The history is append-only at its own time,
 * so a closed bucket's figures are final: a call then reads only the transitions from the first
 * bucket not yet closed on (src/metrics/history-series.ts).
 *
 * A state is never changed once made: a call reads one, and replaces it with the next only if no
 * other call has replaced it meanwhile (two calls for the same scope at once each answer from the
 * state they started with; the second's fold is dropped, not added twice).
 *
 * Bounded: a state holds only what its range still shows (history-series.ts drops buckets before
 * the range's first and days before its first day: at most 168 buckets and 8 days), and at most
 * MAX_SCOPES states are kept, the least recently used dropped first (owners come and go).
 */

/** p50, p95 and p99. */
export type Percentiles3 = [number | null, number | null, number | null];

/** Cost in millionths of a dollar (the column's scale): integers add exactly, floats would drift. */
export interface UsageSum {
  costMicros: number;
  input: number;
  output: number;
}

/** The figures of one bucket. Kinds are in the API's spelling. */
export interface BucketFigures {
  throughput: Map<string, { done: number; failed: number }>;
  /** Entries into QUEUED less exits from it, per kind. */
  queuedNet: Map<string, number>;
  wait: Percentiles3 | null;
  run: Percentiles3 | null;
  /** Workers alive at the bucket's end. */
  workers: number;
}

/** One UTC day's usage of the jobs that finished in it, by kind and by owner. */
export interface DayUsage {
  byKind: Map<string, UsageSum>;
  byOwner: Map<string, UsageSum>;
}

export interface SeriesMemoState {
  /** Epoch ms, a bucket boundary: everything before it is in `buckets` and `days`. */
  closedUntil: number;
  /** Closed buckets by their start (epoch ms). */
  buckets: ReadonlyMap<number, BucketFigures>;
  /** Day (YYYY-MM-DD) -> usage of the transitions from its 00:00 UTC to min(its end, closedUntil). */
  days: ReadonlyMap<string, DayUsage>;
}

export interface SeriesMemo {
  get(key: string): SeriesMemoState | undefined;
  /** Keeps `next` for `key` unless the state kept there is no longer `previous`. */
  replace(key: string, previous: SeriesMemoState | undefined, next: SeriesMemoState): void;
  readonly size: number;
}

export const MAX_SCOPES = 1_000;

/** A Map's insertion order is its recency: a read moves the key to the end, the oldest is first. */
export function createSeriesMemo(maxScopes = MAX_SCOPES): SeriesMemo {
  const states = new Map<string, SeriesMemoState>();
  return {
    get(key) {
      const state = states.get(key);
      if (state !== undefined) {
        states.delete(key);
        states.set(key, state);
      }
      return state;
    },
    replace(key, previous, next) {
      if (states.get(key) !== previous) return;
      states.delete(key);
      states.set(key, next);
      for (const oldest of states.keys()) {
        if (states.size <= maxScopes) break;
        states.delete(oldest);
      }
    },
    get size() {
      return states.size;
    },
  };
}

export function addUsage(into: Map<string, UsageSum>, key: string, usage: UsageSum): void {
  const sum = into.get(key);
  if (sum === undefined) into.set(key, { ...usage });
  else {
    sum.costMicros += usage.costMicros;
    sum.input += usage.input;
    sum.output += usage.output;
  }
}

export function copyDayUsage(day: DayUsage | undefined): DayUsage {
  const copy = (map: Map<string, UsageSum> | undefined) => new Map([...(map ?? [])].map(([key, sum]) => [key, { ...sum }]));
  return { byKind: copy(day?.byKind), byOwner: copy(day?.byOwner) };
}
