/**
 * A queued job whose claim was refused for good (see src/errors/unrunnable.ts): QUEUED ->
 * FAILED with the refusal as its error, counted as the one attempt it had. The failure's
 * cascades run as for any failed job (a grilling idea goes to grill_failed).
 */
import { sql } from 'kysely';
import type { Trx } from '../db/database.js';
import type { AppError } from '../errors/app-error.js';
import { claudeJobMachine } from '../machines/index.js';
import { transitionMany } from '../transitions/index.js';

export async function failUnrunnableJob(trx: Trx, jobId: string, refusal: AppError, actorTokenId: string | null): Promise<void> {
  await transitionMany(
    trx,
    claudeJobMachine,
    [
      {
        id: jobId,
        from: 'QUEUED' as const,
        to: 'FAILED' as const,
        trigger: 'unrunnable',
        set: { error: { code: 'unrunnable', message: refusal.message, details: { refused: refusal.code } } },
        context: { actorTokenId, reason: `the job can never run: ${refusal.message}` },
      },
    ],
    { setSql: { finished_at: sql`now()`, attempt_count: sql`t.attempt_count + 1` } },
  );
}
