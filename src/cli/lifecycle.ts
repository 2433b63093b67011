/**
 * Process lifecycle for the CLI: what opens a resource registers its closer; on SIGTERM or
 * SIGINT the closers run last-in-first-out, each with a deadline, and the process exits 0.
 * A second signal exits at once.
 */
import type { Logger } from '../logger.js';

type Closer = { name: string; close: () => Promise<void> };

export class Closers {
  private readonly closers: Closer[] = [];

  add(name: string, close: () => Promise<void>): void {
    this.closers.push({ name, close });
  }

  async closeAll(logger: Logger, deadlineMs = 10_000): Promise<boolean> {
    let clean = true;
    while (this.closers.length) {
      const { name, close } = this.closers.pop()!;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          close(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`did not close within ${deadlineMs} ms`)), deadlineMs);
          }),
        ]);
      } catch (error) {
        clean = false;
        logger.error({ err: (error as Error).message, resource: name }, 'closing failed');
      } finally {
        clearTimeout(timer);
      }
    }
    return clean;
  }
}

/** Resolves with the signal's name at the first SIGTERM or SIGINT. */
export function shutdownSignal(logger: Logger): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false;
    const handle = (signal: NodeJS.Signals) => {
      if (received) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      received = true;
      logger.info({ signal }, 'shutting down');
      resolve(signal);
    };
    process.on('SIGTERM', handle);
    process.on('SIGINT', handle);
  });
}
