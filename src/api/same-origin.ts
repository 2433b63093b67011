/**
 * Cross-site request refusal. A browser attaches HTTP Basic credentials by itself, so a page of
 * any other site could make a logged-in browser write here (a `text/plain` form POST needs no
 * CORS preflight), or open the event WebSocket. Such requests name their origin: `Origin` (every
 * browser sends it on a WebSocket handshake and on a cross-origin POST) or, failing that,
 * `Sec-Fetch-Site`. A request whose origin is not this server's own, judged by its Host header,
 * is refused with 403. Clients that are not browsers send neither header and are not affected;
 * a proxy in front of the API must pass the Host header through.
 */
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { AppError } from '../errors/app-error.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface RequestOrigin {
  origin: string | undefined;
  host: string | undefined;
  fetchSite: string | undefined;
}

function hostOf(value: string, withScheme: boolean): string | null {
  try {
    return new URL(withScheme ? value : `http://${value}`).host;
  } catch {
    return null;
  }
}

/** Why this request comes from another site's page, or null when it does not. */
export function crossSiteReason({ origin, host, fetchSite }: RequestOrigin): string | null {
  if (origin !== undefined) {
    const own = host === undefined ? null : hostOf(host, false);
    const from = hostOf(origin, true);
    // http://a.example:80 and a.example are one origin: URL drops default ports on both sides.
    return own !== null && from !== null && from === own
      ? null
      : `the request comes from ${origin}, not from this server (${host ?? 'no Host header'})`;
  }
  if (fetchSite === 'cross-site' || fetchSite === 'same-site') return `the request comes from another site (Sec-Fetch-Site: ${fetchSite})`;
  return null;
}

/** Throws 403 for a cross-site request. */
export function assertSameOrigin(request: RequestOrigin): void {
  const reason = crossSiteReason(request);
  if (reason)
    throw new AppError('forbidden', `cross-site request refused: ${reason}`, {
      origin: request.origin ?? null,
      host: request.host ?? null,
    });
}

/** Whether a request changes something (its method is not GET, HEAD or OPTIONS). */
export function isWrite(method: string): boolean {
  return !SAFE_METHODS.has(method.toUpperCase());
}

/** Credentials a browser sends by itself once the user has logged in (HTTP Basic). */
export function isBrowserCredential(authorization: string | undefined): boolean {
  return /^Basic\s/i.test(authorization ?? '');
}

/** The origin facts of a request to the Hono app (its URL's host is the Host header it came with). */
export function requestOrigin(c: Context): RequestOrigin {
  return { origin: c.req.header('origin'), host: new URL(c.req.url).host, fetchSite: c.req.header('sec-fetch-site') };
}

/** The same of a WebSocket handshake, read from the raw request. */
export function upgradeOrigin(request: IncomingMessage): RequestOrigin {
  const origin = request.headers.origin;
  const fetchSite = request.headers['sec-fetch-site'];
  return { origin, host: request.headers.host, fetchSite: Array.isArray(fetchSite) ? fetchSite[0] : fetchSite };
}
