/**
 * Idempotency-Key on the POSTs that enqueue. The first answer to a key is stored in the same
 * transaction as the rows it created; the same key from the same token (until it expires,
 * IDEMPOTENCY_TTL_MS) answers that first answer again, marked `Idempotent-Replayed: true`, and
 * creates nothing. The same key with another method, path or body is refused (422). A request
 * that fails stores nothing, so it may be retried with its key. A duplicate sent while the first
 * is still in flight waits for it, then replays its answer.
 */
import { createHash } from 'node:crypto';
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { JsonValue } from '../db/column-types.js';
import type { Db, Trx } from '../db/database.js';
import { AppError } from '../errors/app-error.js';
import type { ApiDeps, ApiEnv } from './api-deps.js';
import { purgeExpiredKeys } from '../retention/index.js';
import { findLiveKey, lockKey, saveKey } from './idempotency-key.repository.js';

export const REPLAYED_HEADER = 'Idempotent-Replayed';

export const IdempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .min(1, { error: 'must not be empty' })
    .max(255, { error: 'at most 255 characters' })
    .regex(/^[\x21-\x7e]+$/, { error: 'printable ASCII without spaces' })
    .optional()
    // Named in lowercase: the validator reads headers lowercased (HTTP header names ignore case).
    .openapi({
      description:
        'Any unique string (a UUID will do). A retry with the same key and body gets the first answer again (header Idempotent-Replayed: true) and enqueues nothing; the same key with another body answers 422. Keys belong to the token and expire after IDEMPOTENCY_TTL_MS (24 hours by default).',
      example: '6b7f0c1e-3d2a-4c5b-9e8f-7a6b5c4d3e2f',
    }),
});

export interface Answer<Body> {
  status: 202;
  body: Body;
  /** Runs once the rows are committed (adding the jobs to their queues); not on a replay. */
  afterCommit?: () => Promise<void>;
}

interface AnswerDeps {
  db: Db;
  config: Pick<ApiDeps['config'], 'IDEMPOTENCY_TTL_MS'>;
}

/** Runs `work` once per key: the first time in the key's transaction, later as a replay. */
export async function answerOnce<Body extends {}>(
  deps: AnswerDeps,
  c: Context<ApiEnv>,
  key: string,
  requestBody: unknown,
  work: (trx: Trx) => Promise<Answer<Body>>,
): Promise<Response> {
  const owner = { tokenId: c.get('principal').tokenId, key };
  const requestHash = createHash('sha256')
    .update(JSON.stringify([c.req.method, c.req.path, requestBody ?? null]))
    .digest('hex');
  const outcome = await deps.db.transaction().execute(async (trx) => {
    await lockKey(trx, owner);
    const earlier = await findLiveKey(trx, owner);
    if (earlier) {
      if (earlier.request_hash !== requestHash) {
        throw new AppError('validation_failed', 'this Idempotency-Key was used with another request; send a new key for a new request', {
          issues: [{ path: 'Idempotency-Key', message: 'already used with another method, path or body' }],
        });
      }
      return { status: earlier.response_status as 202, body: earlier.response_body as Body, replayed: true };
    }
    const answer = await work(trx);
    await saveKey(trx, owner, {
      requestHash,
      status: answer.status,
      body: answer.body as JsonValue,
      ttlMs: deps.config.IDEMPOTENCY_TTL_MS,
    });
    return { ...answer, replayed: false };
  });
  if (!outcome.replayed) await (outcome as Answer<Body>).afterCommit?.();
  // Expired keys go a few at a time with each keyed request, so the table stays about one TTL long.
  await purgeExpiredKeys(deps.db).catch(() => undefined);
  if (outcome.replayed) c.header(REPLAYED_HEADER, 'true');
  return c.json(outcome.body, outcome.status);
}
