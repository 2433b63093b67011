/**
 * The fleet registry. Each worker process registers itself (host, pid, kinds, concurrency) with
 * a token of its own: the token its claims are bound to. Its heartbeat keeps it alive; a clean
 * shutdown marks it stopped and revokes the token.
 */
import os from 'node:os';
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { generateTokenSecret } from '../auth/token-secret.js';
import type { WorkerIdentity } from '../jobs/claim-jobs.js';
import type { JobKind } from '../queues/kinds.js';

export type { WorkerIdentity };

export interface Registration {
  kinds: readonly JobKind[];
  concurrency: number;
  version: string;
  /** Whose limits its executor runs under (Executor.provider). */
  provider?: string;
}

export async function registerWorker(db: Db, registration: Registration): Promise<WorkerIdentity> {
  const host = os.hostname();
  return db.transaction().execute(async (trx) => {
    const token = generateTokenSecret();
    const { id: tokenId } = await trx
      .insertInto('api_tokens')
      .values({
        name: `worker ${host}:${process.pid}`,
        owner_id: 'system',
        scopes: ['worker'],
        token_hash: token.hash,
        token_prefix: token.prefix,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const { id: workerId } = await trx
      .insertInto('workers')
      .values({
        host,
        pid: process.pid,
        kinds: [...registration.kinds],
        concurrency: registration.concurrency,
        token_id: tokenId,
        version: registration.version,
        provider: registration.provider ?? null,
        // Postgres's clock, which judges the lease (src/jobs/worker-lease.ts), not this process's:
        // the jobs it claims before its first beat hang from this time.
        heartbeat_at: sql<Date>`now()`,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { workerId, tokenId };
  });
}

export async function deregisterWorker(db: Db, identity: WorkerIdentity): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.updateTable('workers').set({ stopped_at: new Date() }).where('id', '=', identity.workerId).execute();
    await trx.updateTable('api_tokens').set({ revoked_at: new Date() }).where('id', '=', identity.tokenId).execute();
  });
}
