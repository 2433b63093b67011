import { JOB_KINDS, type JobKind } from '../../queues/kinds.js';
import { jobKind } from '../../spelling/api-spelling.js';
import { UsageError } from '../usage-error.js';

/** `--kinds idea_grill,plan_chat` (API spelling); absent means the configured WORKER_KINDS. */
export function parseKinds(value: string | undefined, fallback: readonly JobKind[]): readonly JobKind[] {
  if (value === undefined) return fallback;
  const kinds = value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  const parsed = kinds.map((kind) => jobKind.fromApi(kind.toLowerCase()));
  const bad = kinds.filter((_, i) => parsed[i] === null);
  if (bad.length || kinds.length === 0) {
    throw new UsageError(
      `--kinds ${value}: ${bad.join(', ') || 'empty'} not allowed; allowed: ${JOB_KINDS.map((k) => jobKind.toApi(k)).join(', ')}`,
    );
  }
  return [...new Set(parsed as JobKind[])];
}

export function parsePositiveInt(name: string, value: string | undefined, fallback: number, max = 1000): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`--${name} ${value}: expected a whole number from 1 to ${max}`);
  return n;
}

/** The options of the commands that run workers (`start`, `worker`). */
export const KIND_OPTIONS = { kinds: { type: 'string' }, concurrency: { type: 'string' } } as const;

export const KIND_OPTIONS_HELP = {
  kinds: ['k1,k2', `the kinds to run (default WORKER_KINDS, every kind): ${JOB_KINDS.map((k) => jobKind.toApi(k)).join(', ')}`],
  concurrency: ['N', 'jobs of each kind run at once (default WORKER_CONCURRENCY)'],
} as const;
