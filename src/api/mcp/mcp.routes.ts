/**
 * /mcp: the Model Context Protocol over Streamable HTTP (SPEC "Agents talk back"), stateless: every
 * request gets a server of its own, built for its caller, so any API process answers any request
 * and nothing is kept between them. Callers bring a bearer token: a user's token (its scopes
 * decide the tools) or a job token (src/auth/job-token.ts), which is checked against its job on
 * every request and refused as job_token_expired once the job no longer holds that claim.
 *
 * The body is read here, not by the transport: it is checked for what Postgres cannot store (NUL,
 * lone surrogates) like every /api/v1 body, and handed over parsed.
 */
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { isJobToken, type JobTokens, loadJobTokens } from '../../auth/job-token.js';
import type { Principal } from '../../auth/principal.js';
import { AppError } from '../../errors/app-error.js';
import { heldJob } from '../../jobs/job-holder.js';
import type { ApiDeps } from '../api-deps.js';
import { CHALLENGE } from '../auth.middleware.js';
import { createRouter } from '../router.js';
import { inspectJson, MAX_JSON_DEPTH } from '../unstorable-input.middleware.js';
import type { McpContext } from './mcp-context.js';
import { createMcpServer, toolSetsOf } from './mcp-server.js';

export function mcpRoutes(deps: ApiDeps) {
  const app = createRouter();
  let tokens: Promise<JobTokens> | null = null;
  const jobTokens = () =>
    (tokens ??= loadJobTokens(deps.db).catch((error: unknown) => {
      tokens = null;
      throw error;
    }));

  const callerOf = async (header: string | undefined): Promise<Pick<McpContext, 'principal' | 'tokenJob'>> => {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
    if (bearer && isJobToken(bearer)) {
      const claim = (await jobTokens()).verify(bearer);
      if (!claim) throw new AppError('unauthorized', 'the job token is not one this fleet signed');
      const job = await heldJob(
        deps.db,
        { tokenId: '', ownerId: '', scopes: ['agent'], job: { id: claim.jobId, epoch: claim.epoch } },
        {
          leaseMs: deps.config.LEASE_MS,
        },
      );
      const owner = await deps.db.selectFrom('products').select('owner_id').where('id', '=', job.product_id).executeTakeFirstOrThrow();
      const principal: Principal = {
        tokenId: job.claimed_by_token_id!,
        ownerId: owner.owner_id,
        scopes: ['agent'],
        job: { id: claim.jobId, epoch: claim.epoch },
      };
      return { principal, tokenJob: job };
    }
    const principal = bearer ? await deps.auth.authenticate(bearer) : null;
    if (!principal) {
      throw new AppError(
        'unauthorized',
        bearer ? 'the bearer token is unknown or revoked' : 'send a bearer token: Authorization: Bearer <token>',
      );
    }
    return { principal, tokenJob: null };
  };

  app.all('/mcp', async (c) => {
    let caller: Awaited<ReturnType<typeof callerOf>>;
    try {
      caller = await callerOf(c.req.header('authorization'));
    } catch (error) {
      if (error instanceof AppError && error.status === 401) c.header('WWW-Authenticate', CHALLENGE);
      throw error;
    }
    if (toolSetsOf(caller).length === 0) {
      throw new AppError(
        'forbidden',
        `the MCP server has no tools for a token with the ${caller.principal.scopes.join(', ')} scope; it needs worker, read or admin, or a job token`,
        {
          scopes: caller.principal.scopes,
        },
      );
    }
    // Stateless: no session, so a GET stream would never carry a message (the SDK would hold it
    // open, with a keep-alive timer, until the client leaves) and a DELETE ends nothing.
    if (c.req.method !== 'POST') {
      c.header('Allow', 'POST');
      return c.json(
        { jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: POST JSON-RPC messages to /mcp' }, id: null },
        405,
      );
    }
    let parsedBody: unknown;
    {
      try {
        parsedBody = await c.req.json();
      } catch {
        return c.json({ jsonrpc: '2.0', error: { code: -32700, message: 'Parse error: the body is not JSON' }, id: null }, 400);
      }
      const found = inspectJson(parsedBody);
      if (found) {
        const message =
          found.kind === 'too_deep'
            ? `nested deeper than ${MAX_JSON_DEPTH} levels`
            : `${found.path} contains a ${found.kind === 'nul' ? 'NUL character' : 'lone surrogate'}`;
        return c.json(
          { jsonrpc: '2.0', error: { code: -32602, message: `Invalid params: ${message}, which cannot be stored` }, id: null },
          400,
        );
      }
    }
    const server = createMcpServer({ deps, ...caller, signal: c.req.raw.signal });
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    await server.connect(transport);
    c.req.raw.signal.addEventListener('abort', () => void server.close().catch(() => undefined), { once: true });
    return transport.handleRequest(c.req.raw, { parsedBody });
  });

  return app;
}
