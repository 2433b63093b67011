/**
 * Which refusals no retry can change. A claim that starts a job runs its subject checks (the
 * task must be in the sprint run it names, the subject must exist); when one of those says no
 * for a reason that is a fact about the rows, not about the moment, trying again only repeats it,
 * so the worker fails the job once instead of handing it back to BullMQ's retries. A conflict
 * (409) or an unreachable service (503) may pass later and stays retryable.
 */
import { AppError, type ErrorCode } from './app-error.js';

const NEVER_PASSES: ReadonlySet<ErrorCode> = new Set(['not_found', 'forbidden', 'validation_failed']);

export function isUnrunnable(error: unknown): error is AppError {
  return error instanceof AppError && NEVER_PASSES.has(error.code);
}
