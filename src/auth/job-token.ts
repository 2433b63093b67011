/**
 * Job tokens (SPEC "Agents talk back"): the bearer token an agent uses to talk back to the fleet
 * while its job runs. A token names one job and one claim epoch, signed with the fleet's key
 * (fleet_secrets.job_token_key, made by migration 0010):
 *
 *     jfj_<base64url(job uuid, 16 bytes | claim epoch, uint32)>.<base64url(HMAC-SHA256)>
 *
 * It is derived, not stored: a claim writes nothing more for it, and any process that reads the
 * key can check it. It is valid only while its job holds that claim (src/jobs/job-holder.ts checks
 * the row on every use), so it dies with the job's end, a lost lease or a newer claim; nothing
 * has to be revoked.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Executor } from '../db/database.js';

export const JOB_TOKEN_PREFIX = 'jfj_';
const KEY_NAME = 'job_token_key';
const UUID = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i;

export interface JobClaim {
  jobId: string;
  epoch: number;
}

export interface JobTokens {
  /** The token of this claim of a job. */
  sign(claim: JobClaim): string;
  /** The claim a token names, or null when it is not a job token signed with this key. */
  verify(token: string): JobClaim | null;
}

export function isJobToken(token: string): boolean {
  return token.startsWith(JOB_TOKEN_PREFIX);
}

/** The fleet's job tokens, with the key read once from Postgres. */
export async function loadJobTokens(db: Executor): Promise<JobTokens> {
  const row = await db.selectFrom('fleet_secrets').select('secret').where('name', '=', KEY_NAME).executeTakeFirstOrThrow();
  return jobTokens(row.secret);
}

export function jobTokens(key: string): JobTokens {
  const mac = (body: string) => createHmac('sha256', key).update(`${JOB_TOKEN_PREFIX}${body}`).digest();
  return {
    sign({ jobId, epoch }) {
      const hex = UUID.exec(jobId)?.slice(1).join('');
      if (!hex || !Number.isInteger(epoch) || epoch < 0 || epoch > 0xffff_ffff)
        throw new Error(`cannot sign a token for job ${jobId}, epoch ${epoch}`);
      const claim = Buffer.alloc(20);
      Buffer.from(hex, 'hex').copy(claim);
      claim.writeUInt32BE(epoch, 16);
      const body = claim.toString('base64url');
      return `${JOB_TOKEN_PREFIX}${body}.${mac(body).toString('base64url')}`;
    },
    verify(token) {
      if (!isJobToken(token) || token.length > 120) return null;
      const [body, signature, ...rest] = token.slice(JOB_TOKEN_PREFIX.length).split('.');
      if (!body || !signature || rest.length > 0) return null;
      // Compared as text: base64url decoding would skip stray characters and padding, and one
      // token could then be written several ways.
      const presented = Buffer.from(signature);
      const expected = Buffer.from(mac(body).toString('base64url'));
      if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return null;
      const claim = Buffer.from(body, 'base64url');
      if (claim.length !== 20) return null;
      const hex = claim.subarray(0, 16).toString('hex');
      const jobId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
      return { jobId, epoch: claim.readUInt32BE(16) };
    },
  };
}
