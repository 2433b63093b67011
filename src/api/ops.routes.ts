/**
 * Outside /api/v1: /healthz (the process is up), /readyz (Postgres and Redis answer) and /metrics
 * (Prometheus text; needs an admin or worker token unless METRICS_PUBLIC=true, and then leaves out
 * the series labelled by owner for any other caller).
 */
import { Hono } from 'hono';
import { sql } from 'kysely';
import { hasScope } from '../auth/principal.js';
import { AppError } from '../errors/app-error.js';
import type { ApiDeps, ApiEnv } from './api-deps.js';
import { CHALLENGE } from './auth.middleware.js';
import { RETRY_AFTER_SECONDS } from './http-errors.js';
import { assertServing } from '../queues/redis-connections.js';

export function opsRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', async (c) => {
    const check = async (name: string, probe: () => Promise<unknown>) => {
      try {
        await Promise.race([probe(), new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 2 s')), 2_000))]);
        return [name, 'ok'] as const;
      } catch (error) {
        return [name, (error as Error).message] as const;
      }
    };
    const checks = Object.fromEntries(
      await Promise.all([check('postgres', () => sql`SELECT 1`.execute(deps.db)), check('redis', () => assertServing(deps.redis))]),
    );
    const ready = Object.values(checks).every((value) => value === 'ok');
    if (!ready) c.header('Retry-After', String(RETRY_AFTER_SECONDS));
    return c.json({ status: ready ? 'ready' : 'unavailable', checks }, ready ? 200 : 503);
  });

  app.get('/metrics', async (c) => {
    const principal = await deps.auth.fromHeader(c.req.header('authorization'));
    // Admins and workers read every owner's jobs anyway; anyone else must not learn one owner's figures.
    const everyOwner = principal !== null && hasScope(principal, ['worker']);
    if (!deps.config.METRICS_PUBLIC) {
      if (!principal) {
        c.header('WWW-Authenticate', CHALLENGE);
        throw new AppError('unauthorized', 'metrics need a token with the admin or worker scope (or METRICS_PUBLIC=true)');
      }
      if (!everyOwner) throw new AppError('forbidden', 'metrics need the admin or worker scope');
    }
    const text = everyOwner ? await deps.metrics.render() : await deps.metrics.renderPublic();
    return c.body(text, 200, { 'Content-Type': deps.metrics.contentType });
  });

  return app;
}
