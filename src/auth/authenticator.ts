/**
 * Bearer token to Principal. Tokens are looked up by the SHA-256 of the secret; found tokens are
 * remembered for a few seconds so a busy API does not query Postgres on every request (a revoked
 * token therefore stops working within CACHE_MS). last_used_at is written at most once a minute.
 */
import type { Db } from '../db/database.js';
import type { ApiToken } from '../db/tables/api-token.table.js';
import type { Principal, Scope } from './principal.js';
import { hashTokenSecret } from './token-secret.js';

const CACHE_MS = 5_000;
const CACHE_MAX = 10_000;
const TOUCH_MS = 60_000;

export interface Authenticator {
  /** The principal of a bearer secret, or null when it is unknown or revoked. */
  authenticate(secret: string): Promise<Principal | null>;
}

export function createAuthenticator(db: Db): Authenticator {
  const cache = new Map<string, { principal: Principal; until: number }>();
  const touched = new Map<string, number>();

  const principalOf = (token: ApiToken): Principal => ({ tokenId: token.id, ownerId: token.owner_id, scopes: token.scopes as Scope[] });

  const touch = (tokenId: string) => {
    const now = Date.now();
    if ((touched.get(tokenId) ?? 0) + TOUCH_MS > now) return;
    touched.set(tokenId, now);
    void db.updateTable('api_tokens').set({ last_used_at: new Date() }).where('id', '=', tokenId).execute().catch(() => undefined);
  };

  return {
    async authenticate(secret) {
      if (!secret || secret.length > 200) return null;
      const hash = hashTokenSecret(secret);
      const cached = cache.get(hash);
      if (cached && cached.until > Date.now()) {
        touch(cached.principal.tokenId);
        return cached.principal;
      }
      const token = await db.selectFrom('api_tokens').selectAll().where('token_hash', '=', hash).where('revoked_at', 'is', null).executeTakeFirst();
      if (!token) {
        cache.delete(hash);
        return null;
      }
      if (cache.size >= CACHE_MAX) cache.clear();
      const principal = principalOf(token);
      cache.set(hash, { principal, until: Date.now() + CACHE_MS });
      touch(token.id);
      return principal;
    },
  };
}
