/** API tokens: created with their secret shown once, looked up by the secret's hash, revoked. */
import type { Db } from '../db/database.js';
import type { ApiToken } from '../db/tables/api-token.table.js';
import { AppError } from '../errors/app-error.js';
import { isScope, type Scope } from './principal.js';
import { generateTokenSecret, hashTokenSecret } from './token-secret.js';

export interface NewToken {
  name: string;
  ownerId: string;
  scopes: readonly string[];
}

export async function createToken(db: Db, input: NewToken): Promise<{ token: ApiToken; secret: string }> {
  const bad = input.scopes.filter((scope) => !isScope(scope));
  if (bad.length || input.scopes.length === 0) {
    throw new AppError(
      'validation_failed',
      `scopes ${bad.join(', ') || '(none)'} not allowed; allowed: read, write, enqueue, worker, admin`,
    );
  }
  if (!input.name.trim() || !input.ownerId.trim()) throw new AppError('validation_failed', 'a token needs a name and an owner');
  const secret = generateTokenSecret();
  const token = await db
    .insertInto('api_tokens')
    .values({
      name: input.name.trim(),
      owner_id: input.ownerId.trim(),
      scopes: [...new Set(input.scopes)],
      token_hash: secret.hash,
      token_prefix: secret.prefix,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { token, secret: secret.secret };
}

export async function listTokens(db: Db): Promise<ApiToken[]> {
  return db.selectFrom('api_tokens').selectAll().where('owner_id', '<>', 'system').orderBy('created_at').execute();
}

export async function revokeToken(db: Db, id: string): Promise<boolean> {
  const result = await db
    .updateTable('api_tokens')
    .set({ revoked_at: new Date() })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/**
 * ADMIN_TOKEN and the dashboard login (when configured) are admin tokens like any other, so that
 * history rows can name them: each has a row, created on first start under its name and revived if
 * it was revoked. Changing ADMIN_TOKEN in the configuration retires the old row.
 */
export async function ensureConfiguredToken(db: Db, name: 'ADMIN_TOKEN', secret: string): Promise<string> {
  return ensureAdminRow(db, name, hashTokenSecret(secret), secret.slice(0, 6));
}

const DASHBOARD_TOKEN_HASH = 'dashboard-login:not-a-bearer-token';

/**
 * The dashboard login's row. Its password is checked in memory (src/auth/authenticator.ts), so the
 * row holds no hash of it: its token_hash is a constant no SHA-256 of a bearer secret can equal,
 * which keeps the login off the bearer path. Rows of older versions, which held a hash of
 * `user:password`, are retired.
 */
export async function ensureDashboardToken(db: Db): Promise<string> {
  return ensureAdminRow(db, 'DASHBOARD', DASHBOARD_TOKEN_HASH, 'basic');
}

async function ensureAdminRow(db: Db, name: 'ADMIN_TOKEN' | 'DASHBOARD', tokenHash: string, prefix: string): Promise<string> {
  const row = await db
    .insertInto('api_tokens')
    .values({ name, owner_id: 'admin', scopes: ['admin' satisfies Scope], token_hash: tokenHash, token_prefix: prefix })
    .onConflict((oc) => oc.column('token_hash').doUpdateSet({ revoked_at: null }))
    .returning('id')
    .executeTakeFirstOrThrow();
  await db
    .updateTable('api_tokens')
    .set({ revoked_at: new Date() })
    .where('name', '=', name)
    .where('id', '<>', row.id)
    .where('revoked_at', 'is', null)
    .execute();
  return row.id;
}
