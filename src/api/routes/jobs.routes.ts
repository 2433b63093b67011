/**
 * /api/v1/jobs: enqueue (one, or a batch in one transaction), read, list, cancel, and the
 * transitions routes every entity has. Every answer carries jobs in the API's spelling.
 */
import { z } from '@hono/zod-openapi';
import { type Caller, callerOf } from '../../auth/caller.js';
import { visibleOwnership } from '../../backlog/ownership.js';
import { AppError } from '../../errors/app-error.js';
import { cancelJob } from '../../jobs/cancel-job.js';
import { getJob, listJobs } from '../../jobs/claude-job.repository.js';
import { createEnqueueBatcher } from '../../jobs/enqueue-batcher.js';
import { type EnqueueRequest, enqueueJobs, insertJobs, queueInserted } from '../../jobs/enqueue-jobs.js';
import { claudeJobMachine } from '../../machines/index.js';
import { KINDS, SUBJECT_OF_KIND } from '../../queues/kinds.js';
import { claudeJobStatus, jobKind } from '../../spelling/api-spelling.js';
import { readJobLogs } from '../../jobs/job-logs.js';
import { listHistory } from '../../transitions/index.js';
import { noteEnqueued } from '../../telemetry/job-spans.js';
import type { ApiDeps } from '../api-deps.js';
import { authedRoute } from '../auth.middleware.js';
import { enqueuerOf } from '../enqueuer.js';
import { answerOnce, IdempotencyHeaders } from '../idempotent-answer.js';
import { createRouter } from '../router.js';
import { errorResponses, IdParam, json, nextCursor, pageAfter } from '../schemas/common.schemas.js';
import { History, toApiHistory } from '../schemas/history.schemas.js';
import { encodeLogPosition, JobLogPage, JobLogQuery, logPositionOf, toApiLogLine } from '../schemas/job-log.schemas.js';
import { CancelBody, Job, JobList, JobQuery, NewJob, NewJobBatch, toApiJob } from '../schemas/job.schemas.js';
import { ValidTransitions, validTransitions } from '../schemas/transition.schemas.js';

type NewJobBody = z.infer<typeof NewJob>;
const SUBJECT_FIELDS = ['idea_id', 'task_id', 'sprint_run_id'] as const;

/** The kind's subject must be named, and nothing else (a task job may also name its sprint run). */
function toEnqueueRequest(body: NewJobBody, at = ''): EnqueueRequest {
  const kind = jobKind.fromApi(body.kind)!;
  const subject = SUBJECT_OF_KIND[kind];
  const issues: { path: string; message: string }[] = [];
  const subjectId = body[subject];
  if (!subjectId) issues.push({ path: `${at}${subject}`, message: `required for ${body.kind} jobs` });
  for (const field of SUBJECT_FIELDS) {
    const allowedExtra = kind === 'TASK_IMPLEMENTATION' && field === 'sprint_run_id';
    if (field !== subject && body[field] !== undefined && !allowedExtra) {
      issues.push({ path: `${at}${field}`, message: `not allowed for ${body.kind} jobs (their subject is ${subject})` });
    }
  }
  if (issues.length) {
    throw new AppError('validation_failed', `invalid job: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { issues });
  }
  return {
    kind,
    subjectId: subjectId!,
    payload: body.payload ?? {},
    sprintRunId: kind === 'TASK_IMPLEMENTATION' ? (body.sprint_run_id ?? null) : null,
    budget: body.budget,
  };
}

const tags = ['jobs'];
const READ = ['read', 'worker'] as const;

export function jobsRoutes(deps: ApiDeps) {
  const app = createRouter();
  const enqueueOne = createEnqueueBatcher(deps);
  const visibleJob = async (id: string, caller: Caller) => {
    await visibleOwnership(deps.db, 'CLAUDE_JOB', id, caller.ownerId);
    return getJob(deps.db, id);
  };
  const cancel = async (id: string, caller: Caller, reason: string | null) => {
    await visibleOwnership(deps.db, 'CLAUDE_JOB', id, caller.ownerId);
    return cancelJob(deps, id, { actorTokenId: caller.actorTokenId, reason });
  };

  app.openapi(
    authedRoute(['enqueue'], {
      method: 'post',
      path: '/jobs',
      tags,
      summary: 'Enqueue a job',
      description: `Answers 202 once the job row is committed. Subjects by kind: ${Object.entries(KINDS)
        .map(([kind, k]) => `${jobKind.toApi(kind as keyof typeof KINDS)}: ${k.subject}`)
        .join(', ')}.`,
      request: { headers: IdempotencyHeaders, body: { content: { 'application/json': { schema: NewJob } }, required: true } },
      responses: { 202: json(Job, 'The job, queued'), ...errorResponses(404, 409, 413, 422, 503) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const key = c.req.valid('header')['idempotency-key'];
      if (key) {
        return answerOnce(deps, c, key, body, async (trx) => {
          const inserted = await insertJobs(trx, [toEnqueueRequest(body)], enqueuerOf(c, deps));
          return { status: 202, body: toApiJob(inserted.created[0]!), afterCommit: () => queueInserted(deps, inserted) };
        });
      }
      const job = await enqueueOne(toEnqueueRequest(body), enqueuerOf(c, deps));
      noteEnqueued([job]);
      return c.json(toApiJob(job), 202);
    },
  );

  app.openapi(
    authedRoute(['enqueue'], {
      method: 'post',
      path: '/jobs/batch',
      tags,
      summary: 'Enqueue up to 1000 jobs in one transaction',
      request: { headers: IdempotencyHeaders, body: { content: { 'application/json': { schema: NewJobBatch } }, required: true } },
      responses: {
        202: json(z.object({ jobs: z.array(Job) }), 'The jobs, queued, in request order'),
        ...errorResponses(404, 409, 413, 422, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const requests = body.jobs.map((job, index) => toEnqueueRequest(job, `jobs[${index}].`));
      const key = c.req.valid('header')['idempotency-key'];
      if (key) {
        return answerOnce(deps, c, key, body, async (trx) => {
          const inserted = await insertJobs(trx, requests, enqueuerOf(c, deps));
          return { status: 202, body: { jobs: inserted.created.map(toApiJob) }, afterCommit: () => queueInserted(deps, inserted) };
        });
      }
      const jobs = await enqueueJobs(deps, requests, enqueuerOf(c, deps));
      noteEnqueued(jobs);
      return c.json({ jobs: jobs.map(toApiJob) }, 202);
    },
  );

  app.openapi(
    authedRoute(READ, {
      method: 'get',
      path: '/jobs',
      tags,
      summary: 'List jobs, newest first',
      request: { query: JobQuery },
      responses: { 200: json(JobList, 'A page of jobs'), ...errorResponses(422) },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const after = pageAfter(query.cursor);
      const page = await listJobs(
        deps.db,
        {
          status: query.status,
          kind: query.kind,
          idea_id: query.idea_id,
          task_id: query.task_id,
          sprint_run_id: query.sprint_run_id,
          subject_id: query.subject_id,
          ownerId: callerOf(c).ownerId,
        },
        { limit: query.limit, after },
      );
      return c.json({ items: page.items.map(toApiJob), next_cursor: nextCursor(page) }, 200);
    },
  );

  app.openapi(
    authedRoute(READ, {
      method: 'get',
      path: '/jobs/{id}',
      tags,
      summary: 'A job with its current status',
      request: { params: IdParam },
      responses: { 200: json(Job, 'The job'), ...errorResponses(404) },
    }),
    async (c) => c.json(toApiJob(await visibleJob(c.req.valid('param').id, callerOf(c))), 200),
  );

  app.openapi(
    authedRoute(['enqueue'], {
      method: 'post',
      path: '/jobs/{id}/cancel',
      tags,
      summary: 'Cancel a queued or running job (a running agent is aborted)',
      request: { params: IdParam, body: { content: { 'application/json': { schema: CancelBody } }, required: false } },
      responses: { 200: json(Job, 'The job, cancelled'), ...errorResponses(404, 409, 422) },
    }),
    async (c) => {
      const { reason } = c.req.valid('json');
      return c.json(toApiJob(await cancel(c.req.valid('param').id, callerOf(c), reason ?? null)), 200);
    },
  );

  app.openapi(
    authedRoute(READ, {
      method: 'get',
      path: '/jobs/{id}/history',
      tags,
      summary: 'Every status change of a job, oldest first',
      request: { params: IdParam },
      responses: { 200: json(History, 'The history'), ...errorResponses(404) },
    }),
    async (c) => {
      const job = await visibleJob(c.req.valid('param').id, callerOf(c));
      return c.json({ items: (await listHistory(deps.db, 'CLAUDE_JOB', job.id)).map(toApiHistory) }, 200);
    },
  );

  app.openapi(
    authedRoute(READ, {
      method: 'get',
      path: '/jobs/{id}/logs',
      tags,
      summary: "A job's log lines, oldest first; with ?after= only those written since",
      description:
        "The worker's lines (the agent's output, its progress reports, the workspace and its check) live in Redis with the job's delivery and go with it (an hour after it is done, a day after it failed); an idea job's rows of its idea's log stay. " +
        'Poll with next_after to follow a running job: each read returns only what is new. ' +
        "Reading needs only Postgres: while Redis is down or slow, a read answers with the idea's rows and worker_unavailable, and the worker's lines follow later.",
      request: { params: IdParam, query: JobLogQuery },
      responses: { 200: json(JobLogPage, 'The lines, and where to read on'), ...errorResponses(404, 422) },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const after = logPositionOf(query.after);
      const job = await visibleJob(c.req.valid('param').id, callerOf(c));
      const read = await readJobLogs(deps, job, after, query.limit);
      return c.json(
        {
          items: read.lines.map(toApiLogLine),
          next_after: encodeLogPosition(read.next),
          more: read.more,
          worker_unavailable: read.workerUnavailable,
        },
        200,
      );
    },
  );

  app.openapi(
    authedRoute(READ, {
      method: 'get',
      path: '/jobs/{id}/valid-transitions',
      tags,
      summary: 'What a user may move a job to from its current status',
      request: { params: IdParam },
      responses: { 200: json(ValidTransitions, 'The current status and its transitions'), ...errorResponses(404) },
    }),
    async (c) => {
      const job = await visibleJob(c.req.valid('param').id, callerOf(c));
      return c.json(validTransitions(claudeJobMachine, claudeJobStatus, job.status), 200);
    },
  );

  const JobTransition = z
    .object({
      to: z.enum(claudeJobStatus.apiValues as [string, ...string[]], { error: `must be one of ${claudeJobStatus.apiValues.join(', ')}` }),
      reason: z.string().trim().min(1).max(2_000).optional(),
    })
    .strict();
  app.openapi(
    authedRoute(['enqueue'], {
      method: 'post',
      path: '/jobs/{id}/transitions',
      tags,
      summary: "Move a job to another status (users may only cancel; the rest is the workers' and the sweeper's)",
      request: { params: IdParam, body: { content: { 'application/json': { schema: JobTransition } }, required: true } },
      responses: { 200: json(Job, 'The job in its new status'), ...errorResponses(404, 409, 422) },
    }),
    async (c) => {
      const caller = callerOf(c);
      const { id } = c.req.valid('param');
      const { to, reason } = c.req.valid('json');
      const job = await visibleJob(id, caller);
      const target = claudeJobStatus.fromApi(to)!;
      if (target !== 'CANCELLED') claudeJobMachine.assertTransition(job.status, target, { by: 'user' });
      return c.json(toApiJob(await cancel(id, caller, reason ?? null)), 200);
    },
  );

  return app;
}
