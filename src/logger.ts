import { pino, type Logger } from 'pino';
import type { Config } from './config.js';

export type { Logger } from 'pino';

/** JSON lines on stdout; the level comes from LOG_LEVEL. */
export function createLogger(config: Pick<Config, 'LOG_LEVEL'>, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level: config.LOG_LEVEL, base: { pid: process.pid, ...bindings } });
}
