/**
 * Job tokens (src/auth/job-token.ts) as pure functions: what `sign` makes, `verify` reads back,
 * and anything else (a changed character, another key, a cut or padded string, another kind of
 * token) verifies to null. No database: the key is given.
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JOB_TOKEN_PREFIX, jobTokens } from '../../src/auth/job-token.js';

const KEY = 'a-test-key-of-the-fleet';
const tokens = jobTokens(KEY);
const CLAIM = { jobId: '0b7a4c1e-8f2d-4e6a-9c3b-1d2e3f4a5b6c', epoch: 7 };
const TOKEN = tokens.sign(CLAIM);
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const MAX_EPOCH = 2 ** 32 - 1;

/** The token's parts: `jfj_<body>.<signature>`. */
function partsOf(token: string) {
  const [body, signature] = token.slice(JOB_TOKEN_PREFIX.length).split('.') as [string, string];
  return { body, signature, bodyStart: JOB_TOKEN_PREFIX.length, signatureStart: JOB_TOKEN_PREFIX.length + body.length + 1 };
}

const replaceAt = (text: string, index: number, char: string) => `${text.slice(0, index)}${char}${text.slice(index + 1)}`;

/**
 * The character whose 6-bit value differs from this one's in its highest bit. Every character of
 * a base64url text carries its highest bit (only the low bits of the last one can be padding), so
 * this always changes the bytes it encodes.
 */
const flipped = (char: string) => BASE64URL[BASE64URL.indexOf(char) ^ 32]!;

describe('a job token', () => {
  it('has the documented shape and verifies to the claim it was signed for', () => {
    expect(TOKEN).toMatch(/^jfj_[A-Za-z0-9_-]{27}\.[A-Za-z0-9_-]{43}$/);
    expect(tokens.verify(TOKEN)).toEqual(CLAIM);
    // Another instance with the same key: nothing but the key is needed to check a token.
    expect(jobTokens(KEY).verify(TOKEN)).toEqual(CLAIM);
    // Signing is deterministic: the same claim, the same token.
    expect(tokens.sign(CLAIM)).toBe(TOKEN);
  });

  it('round-trips the smallest and the largest claim epoch', () => {
    for (const epoch of [0, 1, MAX_EPOCH - 1, MAX_EPOCH]) {
      const token = tokens.sign({ jobId: CLAIM.jobId, epoch });
      expect(tokens.verify(token)).toEqual({ jobId: CLAIM.jobId, epoch });
    }
    expect(tokens.sign({ jobId: CLAIM.jobId, epoch: 0 })).not.toBe(tokens.sign({ jobId: CLAIM.jobId, epoch: MAX_EPOCH }));
  });

  it('cannot be signed for an epoch outside uint32 or a job id that is not a uuid', () => {
    for (const epoch of [-1, MAX_EPOCH + 1, 1.5, Number.NaN]) {
      expect(() => tokens.sign({ jobId: CLAIM.jobId, epoch })).toThrow(/cannot sign/);
    }
    for (const jobId of ['', 'not-a-uuid', `${CLAIM.jobId}0`, CLAIM.jobId.replaceAll('-', '')]) {
      expect(() => tokens.sign({ jobId, epoch: 1 })).toThrow(/cannot sign/);
    }
  });
});

describe('verify refuses', () => {
  it('the token with any character of its body changed', () => {
    const { body, bodyStart } = partsOf(TOKEN);
    for (let i = 0; i < body.length; i += 1) {
      for (const char of BASE64URL) {
        if (char === body[i]) continue;
        const forged = replaceAt(TOKEN, bodyStart + i, char);
        expect(tokens.verify(forged), `body character ${i} changed to ${char}`).toBeNull();
      }
    }
  });

  it('the token with a character of its signature changed', () => {
    const { signature, signatureStart } = partsOf(TOKEN);
    for (let i = 0; i < signature.length; i += 1) {
      const forged = replaceAt(TOKEN, signatureStart + i, flipped(signature[i]!));
      expect(tokens.verify(forged), `signature character ${i} flipped`).toBeNull();
    }
  });

  it('a token signed with another key', () => {
    const other = jobTokens(`${KEY}-2`).sign(CLAIM);
    expect(other).not.toBe(TOKEN);
    expect(tokens.verify(other)).toBeNull();
    expect(jobTokens(`${KEY}-2`).verify(TOKEN)).toBeNull();
    // The other key's signature on this key's body: the body alone proves nothing.
    expect(tokens.verify(`${JOB_TOKEN_PREFIX}${partsOf(TOKEN).body}.${partsOf(other).signature}`)).toBeNull();
  });

  it('every truncation of the token', () => {
    for (let length = 0; length < TOKEN.length; length += 1) {
      expect(tokens.verify(TOKEN.slice(0, length)), `the first ${length} characters`).toBeNull();
    }
  });

  it('extra or missing dots', () => {
    const { body, signature } = partsOf(TOKEN);
    for (const forged of [
      `${TOKEN}.`,
      `${TOKEN}.${signature}`,
      `${JOB_TOKEN_PREFIX}${body}..${signature}`,
      `${JOB_TOKEN_PREFIX}.${body}.${signature}`,
      `${JOB_TOKEN_PREFIX}${body}${signature}`,
      `${JOB_TOKEN_PREFIX}${body}.`,
      `${JOB_TOKEN_PREFIX}.${signature}`,
      `${JOB_TOKEN_PREFIX}.`,
    ]) {
      expect(tokens.verify(forged), forged).toBeNull();
    }
  });

  it('strings that are not job tokens', () => {
    const rest = TOKEN.slice(JOB_TOKEN_PREFIX.length);
    for (const other of ['', 'jfj_', 'jfj', rest, `JFJ_${rest}`, `jfk_${rest}`, ` ${TOKEN}`, `Bearer ${TOKEN}`, 'jf_0123456789abcdef']) {
      expect(tokens.verify(other), JSON.stringify(other)).toBeNull();
    }
  });

  it('an overlong string, whatever it starts with', () => {
    expect(tokens.verify(`${TOKEN}${'A'.repeat(60)}`)).toBeNull();
    expect(tokens.verify(`${JOB_TOKEN_PREFIX}${'A'.repeat(200)}.${partsOf(TOKEN).signature}`)).toBeNull();
    expect(tokens.verify(`${TOKEN}.${'x'.repeat(100_000)}`)).toBeNull();
    expect(tokens.verify(`${JOB_TOKEN_PREFIX}${'.'.repeat(1_000_000)}`)).toBeNull();
    // Even one the key signed, whose body decodes to a claim (the decoder skips the '~'s): the
    // length alone refuses it, before any HMAC is computed over a long string.
    const padded = `${partsOf(TOKEN).body}${'~'.repeat(100)}`;
    const signed = `${JOB_TOKEN_PREFIX}${padded}.${createHmac('sha256', KEY).update(`${JOB_TOKEN_PREFIX}${padded}`).digest('base64url')}`;
    expect(tokens.verify(signed)).toBeNull();
  });

  // One token is one string: a stray character, padding or the other alphabet is another token.
  it('every string but the exact one sign made: junk, padding or the other base64 alphabet in the signature', () => {
    const { signature, signatureStart } = partsOf(TOKEN);
    const last = TOKEN.length - 1;
    const forgeries = [
      `${TOKEN}!`,
      `${TOKEN}=`,
      `${TOKEN}==`,
      `${TOKEN}\n`,
      replaceAt(TOKEN, signatureStart, `!${signature[0]}`),
      replaceAt(TOKEN, signatureStart + 10, ` ${signature[10]}`),
      // The two unused bits of the last character.
      ...[...BASE64URL].filter((char) => char !== TOKEN[last]).map((char) => replaceAt(TOKEN, last, char)),
    ];
    for (const forged of forgeries) expect(tokens.verify(forged), JSON.stringify(forged)).toBeNull();
  });
});

describe('over any job and epoch', () => {
  const claims = fc.record({ jobId: fc.uuid(), epoch: fc.integer({ min: 0, max: MAX_EPOCH }) });

  it('sign then verify gives the claim back, and only with the same key', () => {
    fc.assert(
      fc.property(claims, fc.string({ minLength: 1 }), (claim, otherKey) => {
        const token = tokens.sign(claim);
        expect(tokens.verify(token)).toEqual({ jobId: claim.jobId.toLowerCase(), epoch: claim.epoch });
        if (otherKey !== KEY) expect(jobTokens(otherKey).verify(token)).toBeNull();
      }),
    );
  });

  it('two different claims never share a token', () => {
    fc.assert(
      fc.property(claims, claims, (a, b) => {
        fc.pre(a.jobId.toLowerCase() !== b.jobId.toLowerCase() || a.epoch !== b.epoch);
        expect(tokens.sign(a)).not.toBe(tokens.sign(b));
      }),
    );
  });

  it('a flipped bit in any character of body or signature makes the token verify to null', () => {
    fc.assert(
      fc.property(claims, fc.nat(), (claim, at) => {
        const token = tokens.sign(claim);
        const { body, signature, bodyStart, signatureStart } = partsOf(token);
        const spots = [
          ...Array.from({ length: body.length }, (_, i) => bodyStart + i),
          ...Array.from({ length: signature.length }, (_, i) => signatureStart + i),
        ];
        const index = spots[at % spots.length]!;
        expect(tokens.verify(replaceAt(token, index, flipped(token[index]!)))).toBeNull();
      }),
    );
  });
});
