/**
 * Group commit: callers submit one item each and await its own result, while the batcher writes
 * whatever has gathered in one flush (one transaction). While a flush is in flight new items
 * gather for the next, so under load batches grow by themselves and an idle batcher adds no
 * delay. A failed flush is retried item by item, so one bad item cannot sink its neighbours,
 * unless the failure is one no item caused (the database is unreachable): then every item fails
 * with it at once, and their submitters decide when to try again.
 */
export type FlushResult<Out> = { ok: true; value: Out } | { ok: false; error: unknown };

export interface GroupCommitOptions<In, Out> {
  /** Writes a batch; returns one result per item, in order. Throwing fails the whole batch. */
  flush(items: In[]): Promise<FlushResult<Out>[]>;
  /** The largest batch a flush takes. */
  maxBatch: number;
  /** How many flushes may be in flight at once (each holds a database connection). */
  maxInFlight: number;
  /**
   * Whether a flush's failure is shared by every item (the database is away), so that retrying
   * them one by one would only fail each again, one connection attempt after another.
   * @defaultValue never
   */
  failsEveryItem?(error: unknown): boolean;
}

export interface GroupCommit<In, Out> {
  submit(item: In): Promise<Out>;
  /** Resolves when nothing is pending or in flight. */
  drain(): Promise<void>;
}

interface Pending<In, Out> {
  item: In;
  resolve(value: Out): void;
  reject(error: unknown): void;
}

export function createGroupCommit<In, Out>(options: GroupCommitOptions<In, Out>): GroupCommit<In, Out> {
  const queue: Pending<In, Out>[] = [];
  let inFlight = 0;
  let scheduled = false;
  let idle: (() => void)[] = [];

  const settle = (batch: Pending<In, Out>[], results: FlushResult<Out>[]) => {
    batch.forEach((pending, index) => {
      const result = results[index];
      if (!result) pending.reject(new Error('group commit: flush returned too few results'));
      else if (result.ok) pending.resolve(result.value);
      else pending.reject(result.error);
    });
  };

  const run = async (batch: Pending<In, Out>[]) => {
    try {
      settle(batch, await options.flush(batch.map((pending) => pending.item)));
    } catch (batchError) {
      if (batch.length === 1 || options.failsEveryItem?.(batchError)) {
        for (const pending of batch) pending.reject(batchError);
      } else {
        for (const pending of batch) {
          try {
            settle([pending], await options.flush([pending.item]));
          } catch (error) {
            pending.reject(error);
          }
        }
      }
    } finally {
      inFlight -= 1;
      pump();
    }
  };

  const pump = () => {
    while (queue.length > 0 && inFlight < options.maxInFlight) {
      const batch = queue.splice(0, options.maxBatch);
      inFlight += 1;
      void run(batch);
    }
    if (queue.length === 0 && inFlight === 0) {
      const waiting = idle;
      idle = [];
      for (const resolve of waiting) resolve();
    }
  };

  return {
    submit(item) {
      return new Promise<Out>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        // Let every caller of this tick join the batch before the first flush starts.
        if (!scheduled) {
          scheduled = true;
          setImmediate(() => {
            scheduled = false;
            pump();
          });
        }
      });
    },
    drain() {
      if (queue.length === 0 && inFlight === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idle.push(resolve));
    },
  };
}
