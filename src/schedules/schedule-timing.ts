/**
 * When a schedule fires: a cron expression in an IANA time zone, or a fixed interval. Checked
 * here with the parser BullMQ's job schedulers use themselves (cron-parser, the same version), so
 * an expression accepted here is one the scheduler can run; and the next firing time the API
 * shows is computed the way the scheduler computes it.
 */
import { CronExpressionParser } from 'cron-parser';
import { AppError } from '../errors/app-error.js';

/** The shortest interval: one firing a second is already more than any agent job needs. */
export const MIN_EVERY_MS = 1_000;
/** The longest interval: a year (365 days). */
export const MAX_EVERY_MS = 365 * 24 * 3_600_000;

export interface Timing {
  cron: string | null;
  everyMs: number | null;
  /** An IANA zone name as Intl spells it (`Europe/Paris`, `UTC`); cron expressions are read in it. */
  timezone: string;
}

const invalid = (path: string, message: string, extra: Record<string, unknown> = {}) =>
  new AppError('validation_failed', message, { issues: [{ path, message }], ...extra });

/** The zone's canonical name, or validation_failed naming `timezone`. */
export function checkedTimezone(timezone: string): string {
  try {
    return new Intl.DateTimeFormat('en', { timeZone: timezone }).resolvedOptions().timeZone;
  } catch {
    throw invalid('timezone', `unknown time zone "${timezone}": use an IANA name such as UTC or Europe/Paris`, { timezone });
  }
}

/**
 * The timing with its zone spelled canonically, or validation_failed naming the field: exactly
 * one of cron and every_ms; a cron expression that parses and fires at least once more; an
 * interval from MIN_EVERY_MS to MAX_EVERY_MS.
 */
export function checkedTiming(timing: Timing): Timing {
  const { cron, everyMs } = timing;
  if ((cron === null) === (everyMs === null)) {
    const message = 'give exactly one of cron and every_ms';
    throw new AppError('validation_failed', message, {
      issues: [
        { path: 'cron', message },
        { path: 'every_ms', message },
      ],
    });
  }
  const timezone = checkedTimezone(timing.timezone);
  if (cron !== null) {
    const problem = cronProblem(cron, timezone);
    if (problem) throw invalid('cron', `invalid cron expression "${cron}": ${problem}`, { cron });
  }
  if (everyMs !== null && !(Number.isInteger(everyMs) && everyMs >= MIN_EVERY_MS && everyMs <= MAX_EVERY_MS)) {
    throw invalid('every_ms', `every_ms must be a whole number of milliseconds from ${MIN_EVERY_MS} to ${MAX_EVERY_MS}`, {
      every_ms: everyMs,
    });
  }
  return { cron, everyMs, timezone };
}

/** Why the expression cannot drive a schedule, or null when it can. */
function cronProblem(cron: string, timezone: string): string | null {
  if (cron.trim() === '') return 'it is empty';
  // `H` asks cron-parser for a random value per parse: this check, the API's next_fire_at and
  // the scheduler would each pick another.
  if (/\bH\b/i.test(cron)) return 'hashed values (H) are not supported';
  try {
    CronExpressionParser.parse(cron, { tz: timezone, currentDate: new Date() }).next();
    return null;
  } catch (error) {
    return (error as Error).message || 'it never fires';
  }
}

/**
 * When an enabled schedule fires next, from `now`: a cron expression's next time in its zone; an
 * interval's next slot after its last firing (BullMQ keeps to the slots of the first one), or now
 * when it has not fired yet or missed its slot (a newly installed interval fires at once).
 */
export function nextFireAt(timing: Timing, lastFiredAt: Date | null, now: Date): Date {
  if (timing.cron !== null) {
    return CronExpressionParser.parse(timing.cron, { tz: timing.timezone, currentDate: now }).next().toDate();
  }
  if (lastFiredAt === null) return now;
  const next = lastFiredAt.getTime() + timing.everyMs!;
  return new Date(Math.max(next, now.getTime()));
}
