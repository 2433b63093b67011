/**
 * The HTTP surface: /api/v1 (JSON, bearer tokens, OpenAPI document at /api/v1/openapi.json).
 * createApp takes its dependencies and opens nothing; `jobfleet api` and `jobfleet start` serve it.
 */
import { requestId } from 'hono/request-id';
import { AppError, isAppError } from '../errors/app-error.js';
// Installs the kind handlers and the job and run cascades the routes' transitions set off.
import '../kinds/index.js';
import type { ApiDeps } from './api-deps.js';
import { authenticate } from './auth.middleware.js';
import { limitBody } from './body-limit.middleware.js';
import { errorBody, respondWithError } from './http-errors.js';
import { createRouter } from './router.js';
import { requestSpans } from './request-spans.js';
import { tracingOn } from '../telemetry/tracing.js';
import { refuseUnstorableInput } from './unstorable-input.middleware.js';
import { productRoutes } from './routes/products.routes.js';
import { pbiRoutes } from './routes/pbis.routes.js';
import { storyRoutes } from './routes/stories.routes.js';
import { taskRoutes } from './routes/tasks.routes.js';
import { sprintRoutes } from './routes/sprints.routes.js';
import { stepRoutes } from './routes/steps.routes.js';
import { sprintRunRoutes } from './routes/sprint-runs.routes.js';
import { ideaRoutes } from './routes/ideas.routes.js';
import { jobsRoutes } from './routes/jobs.routes.js';
import { ownerCapRoutes } from './routes/owner-caps.routes.js';
import { providerRoutes } from './routes/providers.routes.js';
import { scheduleRoutes } from './routes/schedules.routes.js';
import { jobQuestionRoutes } from './routes/job-questions.routes.js';
import { eventRoutes } from './routes/events.routes.js';
import { fleetRoutes } from './routes/fleet.routes.js';
import { seriesRoutes } from './routes/series.routes.js';
import { opsRoutes } from './ops.routes.js';
import { fleetPageRoutes } from './dashboard/fleet-page.js';
import { detailPageRoutes } from './dashboard/detail-pages.js';
import { bullBoardRoutes } from './dashboard/bull-board.js';
import { taskDependencyRoutes } from './routes/task-dependencies.routes.js';
import { mcpRoutes } from './mcp/mcp.routes.js';

export const API_VERSION = '0.1.0';

export function createApp(deps: ApiDeps) {
  const app = createRouter();

  // First, so that a request's span covers its authentication and every other middleware.
  if (tracingOn()) app.use('*', requestSpans());
  app.use('*', requestId());
  // Who is calling comes first: nothing of an unauthenticated request's body is read.
  app.use('/api/v1/*', authenticate(deps.auth));
  app.use(
    '/api/*',
    limitBody(deps.config.BODY_LIMIT_BYTES, () => {
      throw new AppError('payload_too_large', `the request body is larger than ${deps.config.BODY_LIMIT_BYTES} bytes`, {
        limit: deps.config.BODY_LIMIT_BYTES,
      });
    }),
  );
  app.use('/api/v1/*', refuseUnstorableInput());
  app.use(
    '/mcp',
    limitBody(deps.config.BODY_LIMIT_BYTES, () => {
      throw new AppError('payload_too_large', `the request body is larger than ${deps.config.BODY_LIMIT_BYTES} bytes`, {
        limit: deps.config.BODY_LIMIT_BYTES,
      });
    }),
  );

  app.route('/', opsRoutes(deps));
  app.route('/', fleetPageRoutes(deps));
  app.route('/', detailPageRoutes(deps));
  app.route('/', bullBoardRoutes(deps));
  app.route('/', mcpRoutes(deps));

  const v1 = [
    productRoutes(deps),
    pbiRoutes(deps),
    storyRoutes(deps),
    taskRoutes(deps),
    taskDependencyRoutes(deps),
    sprintRoutes(deps),
    sprintRunRoutes(deps),
    stepRoutes(deps),
    ideaRoutes(deps),
    jobsRoutes(deps),
    jobQuestionRoutes(deps),
    providerRoutes(deps),
    ownerCapRoutes(deps),
    scheduleRoutes(deps),
    eventRoutes(deps),
    fleetRoutes(deps),
    seriesRoutes(deps),
  ];
  for (const routes of v1) app.route('/api/v1', routes);

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'A jobfleet API token (jobfleet token create)',
  });
  app.doc31('/api/v1/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'jobfleet',
      version: API_VERSION,
      description:
        'A worker fleet for AI coding-agent jobs. Agents talk back over the Model Context Protocol at /mcp (Streamable HTTP, the same bearer tokens, or a job token); its tools are listed by the protocol itself, not here.',
    },
  });

  app.notFound((c) =>
    c.json(errorBody(new AppError('not_found', `no route for ${c.req.method} ${c.req.path}`), c.get('requestId') ?? 'unknown'), 404),
  );
  app.onError((error, c) => {
    // Every route that enqueues refuses a spent owner the same way: count them all here.
    if (isAppError(error, 'budget_exhausted')) deps.metrics.recordBudgetRefusal();
    return respondWithError(c, error, deps.logger);
  });
  return app;
}

export type App = ReturnType<typeof createApp>;
