/**
 * GET /api/v1/events: the fleet's status changes, and the job notices (progress, questions), as
 * Server-Sent Events, filterable by job, idea, sprint run, product, job kind, status reached and
 * owner, scoped to what the token may
 * see (src/events/fleet-event.ts audienceOf). A client reconnecting with Last-Event-ID (the header,
 * or ?last_event_id=) first gets every status change it missed (notices are not replayed), up to
 * the replay's bound, told by `replay_truncated` when it was further behind than that; a new
 * one may ask for the most recent events first (?replay=N), as a page does to fill its feed. The
 * stream ends within the authenticator's cache window once its token is revoked.
 */
import { z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { AppError } from '../../errors/app-error.js';
import { isEventId, openEventStream } from '../../events/event-stream.js';
import { audienceOf } from '../../events/fleet-event.js';
import { MAX_RECENT_EVENTS } from '../../events/recent-events.js';
import type { ApiDeps } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { createRouter } from '../router.js';
import { EVENT_STATUSES, jobKind } from '../../spelling/api-spelling.js';
import { errorResponses, Uuid } from '../schemas/common.schemas.js';

/**
 * A comma-separated list of API values, kept in API spelling: the events carry them so (a job's
 * kind, the status an event went to), and matching compares the two as they are.
 */
function apiValueList(values: readonly string[], what: string) {
  const allowed = values.join(', ');
  return z
    .string()
    .transform((value, ctx) => {
      const parts = [
        ...new Set(
          value
            .split(',')
            .map((part) => part.trim())
            .filter(Boolean),
        ),
      ];
      const bad = parts.filter((part) => !values.includes(part));
      if (bad.length || parts.length === 0) {
        const said = bad.length ? `${bad.join(', ')} ${bad.length > 1 ? 'are' : 'is'} not` : 'name at least one';
        ctx.addIssue({ code: 'custom', message: `${said} ${what}; allowed: ${allowed}` });
        return z.NEVER;
      }
      return parts;
    })
    .openapi({ type: 'string', description: `comma-separated; any of ${allowed}` });
}

const REPLAY_RANGE = `must be a whole number from 1 to ${MAX_RECENT_EVENTS}`;

export const EventQuery = z.object({
  job_id: Uuid.optional(),
  idea_id: Uuid.optional(),
  sprint_run_id: Uuid.optional(),
  product_id: Uuid.optional(),
  kind: apiValueList(jobKind.apiValues, 'a job kind')
    .optional()
    .openapi({ description: 'comma-separated job kinds: only job events (status changes and notices) of those kinds' }),
  status: apiValueList(EVENT_STATUSES, 'a status')
    .optional()
    .openapi({ description: "comma-separated statuses: only events whose `to` is one of them (a notice's `to` is its job's status)" }),
  owner_id: z
    .string()
    .trim()
    .min(1, { error: 'must name an owner' })
    .max(200, { error: 'must be at most 200 characters' })
    .optional()
    .openapi({
      description:
        "one owner's events only (admins and worker tokens; a read token sees only its own owner's anyway). Provider events belong to no owner: they never match",
    }),
  last_event_id: z.string().optional().openapi({ description: 'like the Last-Event-ID header' }),
  replay: z.coerce
    .number({ error: REPLAY_RANGE })
    .int({ error: REPLAY_RANGE })
    .min(1, { error: REPLAY_RANGE })
    .max(MAX_RECENT_EVENTS, { error: REPLAY_RANGE })
    .optional()
    .openapi({
      description: `first the most recent N events the stream would carry (up to ${MAX_RECENT_EVENTS}); a reconnect's Last-Event-ID wins`,
    }),
});

const KEEPALIVE_MS = 15_000;

export function eventRoutes(deps: ApiDeps) {
  const app = createRouter();
  app.openapi(
    authedRoute(['read', 'worker'], {
      method: 'get',
      path: '/events',
      tags: ['events'],
      summary: 'Live status changes as Server-Sent Events',
      description:
        'Each event: `id` (replay from it with Last-Event-ID), `event` (connected, started, step_started, step_completed, completed, failed, provider_paused, provider_resumed or transition) and JSON `data` with the entity, from, to, trigger and the job, step, sprint run and idea it concerns; a provider event has data.provider (name, reason, message, until). ' +
        "Job notices come on the same stream without an `id` (they are not replayed): `progress` (data.progress: the agent's message and percent), `question_asked`, `question_answered`, `question_closed` (data.question) and `budget_exceeded` (data.budget: ceiling, limit, used). " +
        "A read token gets its owner's events; a worker token every owner's job events and nothing else of the backlog; both get the providers' events, which belong to no owner. " +
        'A reconnect replays at most the 10,000 newest history rows after its Last-Event-ID: one further behind first gets `event: replay_truncated` (no `id`) with data `{"type": "replay_truncated", "after": <its Last-Event-ID>, "resumes_after": <id>}`, meaning the events after `after` up to `resumes_after` were skipped, and should reread what it shows through the API; a stream opened with `replay` and no Last-Event-ID gets none. ' +
        "Filters narrow both the replay (`replay`, Last-Event-ID) and the live events, and combine (an event must pass each given): `job_id`, `idea_id`, `sprint_run_id`, `product_id`; `kind` (job kinds, comma-separated: only job events, status changes and notices, carry one); `status` (the event's `to`, comma-separated, API spelling); `owner_id` (one owner's events; a provider's belong to no owner). An unknown kind or status, an empty owner_id or a malformed Last-Event-ID is refused with 422 validation_failed. " +
        'The stream ends within 5 seconds of its token being revoked.',
      request: { query: EventQuery },
      responses: {
        200: { description: 'An event stream', content: { 'text/event-stream': { schema: z.string() } } },
        ...errorResponses(401, 403, 422),
      },
    }),
    (c) => {
      const query = c.req.valid('query');
      const lastEventId = c.req.header('last-event-id') ?? query.last_event_id ?? null;
      if (lastEventId !== null && !isEventId(lastEventId)) {
        throw new AppError('validation_failed', 'invalid Last-Event-ID: an event id is a whole number', {
          issues: [{ path: 'last_event_id', message: 'not an event id' }],
        });
      }
      const filter = {
        job_id: query.job_id,
        idea_id: query.idea_id,
        sprint_run_id: query.sprint_run_id,
        product_id: query.product_id,
        kind: query.kind,
        status: query.status,
        owner_id: query.owner_id,
      };
      const principal = c.get('principal');
      return streamSSE(c, async (stream) => {
        let revoked = false;
        let unwatch = () => {};
        const ended = new Promise<void>((resolve) => {
          stream.onAbort(resolve);
          void deps.events.closed.then(resolve);
          unwatch = deps.auth.watchRevocation(principal, () => {
            revoked = true;
            resolve();
          });
        });
        // Whatever ends the stream (the client, the token, the hub, a replay that failed), the
        // revocation watch, the keepalive and the hub's listener are released.
        let keepalive: NodeJS.Timeout | undefined;
        let stop = () => {};
        try {
          stop = await openEventStream({
            db: deps.db,
            hub: deps.events,
            filter,
            audience: audienceOf(principal),
            lastEventId,
            recent: query.replay ?? null,
            // Nothing more leaves once the token is revoked, even what the hub had in flight. A notice
            // goes without an id, so the browser's Last-Event-ID stays on the last history row.
            send: (event) =>
              revoked ? undefined : stream.writeSSE({ id: event.id ?? undefined, event: event.type, data: JSON.stringify(event) }),
            // Without an id too: the replay's events that follow carry the ids to resume from.
            sendTruncated: (notice) => (revoked ? undefined : stream.writeSSE({ event: notice.type, data: JSON.stringify(notice) })),
          });
          await stream.writeSSE({ event: 'connected', data: JSON.stringify({ type: 'connected', filter }) });
          keepalive = setInterval(() => void stream.write(': keepalive\n\n').catch(() => undefined), KEEPALIVE_MS);
          await ended;
        } finally {
          clearInterval(keepalive);
          unwatch();
          stop();
        }
      });
    },
  );
  return app;
}
