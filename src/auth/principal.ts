/**
 * Who is calling: the token a request authenticated with, its owner and its scopes.
 *
 * - read: read the backlog, jobs and the fleet;
 * - write: create and edit the backlog and move it through its transitions;
 * - enqueue: enqueue and cancel jobs (grill, plan, chat, sprint runs);
 * - worker: what workers do: read jobs and the fleet, across owners, and nothing else;
 * - admin: everything, for every owner, and the dashboard.
 *
 * A sixth scope, `agent`, is never given to a token a user creates: it is the scope of a job token
 * (src/auth/job-token.ts), which acts only on its own job, through the MCP server.
 */
export const SCOPES = ['read', 'write', 'enqueue', 'worker', 'admin'] as const;
export type Scope = (typeof SCOPES)[number] | 'agent';

export interface Principal {
  /** The api_tokens row history names as the actor (for a job token: the token its job was claimed with). */
  tokenId: string;
  ownerId: string;
  scopes: readonly Scope[];
  /** For a job token: the job and claim it is bound to. */
  job?: { id: string; epoch: number };
}

/** A scope a user may give a token (not `agent`). */
export function isScope(value: string): value is (typeof SCOPES)[number] {
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
