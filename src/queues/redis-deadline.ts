import { AppError } from '../errors/app-error.js';

/**
 * A deadline for a call to Redis made on a caller's behalf: ioredis queues commands while it
 * reconnects, so without one a request would wait for Redis as long as Redis is away. Past the
 * deadline the caller gets service_unavailable; the command itself may still run later.
 */
export function redisDeadline(timeoutMs: number) {
  return async <T>(what: string, work: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AppError('service_unavailable', `Redis did not answer ${what} in ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
}
