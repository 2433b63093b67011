/**
 * Bearer token secrets: 32 random bytes, shown once; only their SHA-256 is stored. A fast hash is
 * right here (unlike for passwords): the secret has 256 bits of entropy, so there is nothing to
 * brute-force, and every request checks one.
 */
import { hash, randomBytes } from 'node:crypto';

export const TOKEN_PREFIX = 'jf_';

export interface TokenSecret {
  /** What the user puts in `Authorization: Bearer ...`. */
  secret: string;
  hash: string;
  /** The first characters, stored so users can tell their tokens apart. */
  prefix: string;
}

export function generateTokenSecret(): TokenSecret {
  const secret = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { secret, hash: hashTokenSecret(secret), prefix: secret.slice(0, 10) };
}

// The one-shot hash: a Hash object per request (createHash) was a tenth of the auth middleware's CPU.
export function hashTokenSecret(secret: string): string {
  return hash('sha256', secret, 'hex');
}
