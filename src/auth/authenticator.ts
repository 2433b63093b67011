/**
 * Credentials to Principal. Bearer tokens are looked up by the SHA-256 of the secret; found tokens
 * are remembered for CACHE_MS so a busy API does not query Postgres on every request (a revoked
 * token therefore stops working within CACHE_MS). last_used_at is written at most once a minute.
 * Long-lived streams outlive any single lookup, so they ask to be told of a revocation
 * (`watchRevocation`): the tokens of every open stream are checked together every CACHE_MS.
 *
 * Browsers use HTTP Basic auth: the dashboard login of the configuration (an admin), or any user
 * name with a token as the password. The dashboard password is checked against a scrypt hash
 * with a random salt made when the authenticator is created; it never reaches the database and
 * is never a bearer token.
 */
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { Db } from '../db/database.js';
import type { ApiToken } from '../db/tables/api-token.table.js';
import type { Principal, Scope } from './principal.js';
import { hashTokenSecret } from './token-secret.js';

const CACHE_MS = 5_000;
const CACHE_MAX = 10_000;
const TOUCH_MS = 60_000;
const PASSWORD_KEY_BYTES = 32;
const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;

export interface Authenticator {
  /** The principal of a bearer secret, or null when it is unknown or revoked. */
  authenticate(secret: string): Promise<Principal | null>;
  /** The principal of HTTP Basic credentials. */
  authenticateBasic(user: string, password: string): Promise<Principal | null>;
  /** The principal of an Authorization header (Bearer or Basic), or null. */
  fromHeader(header: string | undefined): Promise<Principal | null>;
  /**
   * Calls `onRevoked` once, within CACHE_MS of the principal's token being revoked (or deleted).
   * Returns a function that stops watching.
   */
  watchRevocation(principal: Principal, onRevoked: () => void): () => void;
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

/** Checks the dashboard password without keeping it: only its salted scrypt hash stays in memory. */
function dashboardLogin(dashboard: Dashboard) {
  const salt = randomBytes(16);
  const expected = scryptSync(dashboard.password, salt, PASSWORD_KEY_BYTES);
  const user = dashboard.user;
  return async (presentedUser: string, password: string): Promise<boolean> => {
    // The user name is no secret: only a matching one pays for the slow hash.
    if (!same(presentedUser, user)) return false;
    return timingSafeEqual(await scryptAsync(password, salt, PASSWORD_KEY_BYTES), expected);
  };
}

export function createAuthenticator(db: Db, dashboard: Dashboard | null = null): Authenticator {
  const cache = new Map<string, { principal: Principal; until: number }>();
  const touched = new Map<string, number>();
  const isDashboardLogin = dashboard ? dashboardLogin(dashboard) : async () => false;
  const dashboardPrincipal: Principal | null = dashboard ? { tokenId: dashboard.tokenId, ownerId: 'admin', scopes: ['admin'] } : null;

  const principalOf = (token: ApiToken): Principal => ({ tokenId: token.id, ownerId: token.owner_id, scopes: token.scopes as Scope[] });

  const touch = (tokenId: string) => {
    const now = Date.now();
    if ((touched.get(tokenId) ?? 0) + TOUCH_MS > now) return;
    // Every token this process ever saw would stay here: bounded like the cache (forgetting a
    // token's touch costs at most one more write of its last_used_at).
    if (touched.size >= CACHE_MAX) touched.clear();
    touched.set(tokenId, now);
    void db
      .updateTable('api_tokens')
      .set({ last_used_at: new Date() })
      .where('id', '=', tokenId)
      .execute()
      .catch(() => undefined);
  };

  // Lookups in flight, by hash: when a busy token's cache entry expires, every request that
  // arrives before the lookup answers waits for that one lookup (64 concurrent callers each
  // queried, and each took a pool connection from the enqueues, every CACHE_MS).
  const lookups = new Map<string, Promise<Principal | null>>();

  const authenticate = async (secret: string): Promise<Principal | null> => {
    if (!secret || secret.length > 200) return null;
    const hash = hashTokenSecret(secret);
    const cached = cache.get(hash);
    if (cached && cached.until > Date.now()) {
      touch(cached.principal.tokenId);
      return cached.principal;
    }
    let lookup = lookups.get(hash);
    if (!lookup) {
      lookup = lookUp(hash).finally(() => lookups.delete(hash));
      lookups.set(hash, lookup);
    }
    return lookup;
  };

  const lookUp = async (hash: string): Promise<Principal | null> => {
    const token = await db
      .selectFrom('api_tokens')
      .selectAll()
      .where('token_hash', '=', hash)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
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
    if (dashboardPrincipal && (await isDashboardLogin(user, password))) return dashboardPrincipal;
    return authenticate(password);
  };

  const watchers = new Map<string, Set<() => void>>();
  let timer: NodeJS.Timeout | undefined;
  const checkWatched = async () => {
    const ids = [...watchers.keys()];
    if (ids.length === 0) return;
    let live: Set<string>;
    try {
      const rows = await db.selectFrom('api_tokens').select('id').where('id', 'in', ids).where('revoked_at', 'is', null).execute();
      live = new Set(rows.map((row) => row.id));
    } catch {
      return; // Postgres unreachable: streams carry on, and the next check decides
    }
    for (const id of ids) {
      if (live.has(id)) continue;
      for (const [hash, entry] of cache) if (entry.principal.tokenId === id) cache.delete(hash);
      const callbacks = watchers.get(id);
      watchers.delete(id);
      for (const callback of callbacks ?? []) callback();
    }
    if (watchers.size === 0) stopTimer();
  };
  const stopTimer = () => {
    clearInterval(timer);
    timer = undefined;
  };

  const watchRevocation = (principal: Principal, onRevoked: () => void) => {
    let callbacks = watchers.get(principal.tokenId);
    if (!callbacks) watchers.set(principal.tokenId, (callbacks = new Set()));
    let called = false;
    const once = () => {
      if (called) return;
      called = true;
      onRevoked();
    };
    callbacks.add(once);
    timer ??= setInterval(() => void checkWatched(), CACHE_MS).unref();
    return () => {
      const current = watchers.get(principal.tokenId);
      current?.delete(once);
      if (current?.size === 0) watchers.delete(principal.tokenId);
      if (watchers.size === 0) stopTimer();
    };
  };

  return {
    authenticate,
    authenticateBasic,
    watchRevocation,
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
