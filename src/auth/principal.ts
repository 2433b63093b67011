/**
 * Who is calling: the token a request authenticated with, its owner and its scopes.
 *
 * - read: read the backlog, jobs and the fleet;
 * - write: create and edit the backlog and move it through its transitions;
 * - enqueue: enqueue and cancel jobs (grill, plan, chat, sprint runs);
 * - worker: what workers do: read jobs and the fleet, across owners, and nothing else;
 * - admin: everything, for every owner, and the dashboard.
 */
export const SCOPES = ['read', 'write', 'enqueue', 'worker', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface Principal {
  tokenId: string;
  ownerId: string;
  scopes: readonly Scope[];
}

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

export function hasScope(principal: Principal, allowed: readonly Scope[]): boolean {
  return principal.scopes.includes('admin') || allowed.some((scope) => principal.scopes.includes(scope));
}

/** The owner whose rows the principal may see, or null for every owner (admins, workers). */
export function ownerScope(principal: Principal): string | null {
  return principal.scopes.includes('admin') || principal.scopes.includes('worker') ? null : principal.ownerId;
}

export function isAdmin(principal: Principal): boolean {
  return principal.scopes.includes('admin');
}
