/**
 * Credentials to Principal. Bearer tokens are looked up by the SHA-256 of the secret; found tokens
 * are remembered for a few seconds so a busy API does not query Postgres on every request (a
 * revoked token therefore stops working within CACHE_MS). last_used_at is written at most once a
 * minute. Browsers use HTTP Basic auth: the dashboard credentials of the configuration (an admin),
 * or any user name with a token as the password.
 */
import { timingSafeEqual } from 'node:crypto';
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
  /** The principal of HTTP Basic credentials. */
  authenticateBasic(user: string, password: string): Promise<Principal | null>;
  /** The principal of an Authorization header (Bearer or Basic), or null. */
  fromHeader(header: string | undefined): Promise<Principal | null>;
}

export interface Dashboard {
  user: string;
  password: string;
  /** The api_tokens row standing for the dashboard login (history names it as the actor). */
  tokenId: string;
}

function same(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export function createAuthenticator(db: Db, dashboard: Dashboard | null = null): Authenticator {
  const cache = new Map<string, { principal: Principal; until: number }>();
  const touched = new Map<string, number>();

  const principalOf = (token: ApiToken): Principal => ({ tokenId: token.id, ownerId: token.owner_id, scopes: token.scopes as Scope[] });

  const touch = (tokenId: string) => {
    const now = Date.now();
    if ((touched.get(tokenId) ?? 0) + TOUCH_MS > now) return;
    touched.set(tokenId, now);
    void db.updateTable('api_tokens').set({ last_used_at: new Date() }).where('id', '=', tokenId).execute().catch(() => undefined);
  };

  const authenticate = async (secret: string): Promise<Principal | null> => {
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
  };

  const authenticateBasic = async (user: string, password: string): Promise<Principal | null> => {
    if (dashboard && same(user, dashboard.user) && same(password, dashboard.password)) {
      return { tokenId: dashboard.tokenId, ownerId: 'admin', scopes: ['admin'] };
    }
    return authenticate(password);
  };

  return {
    authenticate,
    authenticateBasic,
    async fromHeader(header) {
      const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
      if (bearer) return authenticate(bearer[1]!);
      const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
      if (!basic) return null;
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      return colon === -1 ? null : authenticateBasic(decoded.slice(0, colon), decoded.slice(colon + 1));
    },
  };
}
