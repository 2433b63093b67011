/**
 * Who a request acts for, as the backlog and the jobs see it: the token written into history
 * rows, and the owner whose rows it may see (null for every owner: admins and workers).
 */
import { ownerScope, type Principal } from './principal.js';

export interface Caller {
  actorTokenId: string;
  /** The owner whose rows the caller sees, or null for all. */
  ownerId: string | null;
}

/** The caller of a request the auth middleware has let through (it sets `principal`). */
export function callerOf(c: { get(key: 'principal'): Principal }): Caller {
  const principal = c.get('principal');
  return { actorTokenId: principal.tokenId, ownerId: ownerScope(principal) };
}
