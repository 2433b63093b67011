/**
 * The /api/v1/jobs HTTP contract against real Postgres and Redis: enqueue (one and batch) with
 * the subject transitions each kind implies, validation answers, reading, listing with filters
 * and cursor pages, cancel, history, the OpenAPI document, and "durable before acknowledged"
 * with a Redis server that is stopped while a job is posted.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import type { JobKind } from '../../src/queues/kinds.js';
import { sweep } from '../../src/sweeper/sweep.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { inTrx, rowCounts, rowIn, statusOf } from '../helpers/fixtures.js';
import { type PrivateRedis, startPrivateRedis } from '../helpers/redis-server.js';
import { createIdeas, createProduct, createSprintRuns, createTasks } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

const ALL_KINDS = ['task_implementation', 'idea_grill', 'idea_make_plan', 'plan_chat', 'sprint_implementation'];
const ALL_STATUSES = ['queued', 'claimed', 'running', 'done', 'failed', 'cancelled', 'skipped'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MISSING_ID = '0199a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d';

type Reply = { status: number; body: any };

/** The one error shape: `{ error: { code, message, details, requestId } }`; returns `error`. */
function expectError(reply: Reply, status: number, code: string) {
  expect(reply.status).toBe(status);
  expect(Object.keys(reply.body)).toEqual(['error']);
  expect(Object.keys(reply.body.error).sort()).toEqual(['code', 'details', 'message', 'requestId']);
  expect(reply.body.error.code).toBe(code);
  expect(reply.body.error.message).toEqual(expect.any(String));
  expect(reply.body.error.message.length).toBeGreaterThan(0);
  expect(reply.body.error.details).toEqual(expect.any(Object));
  expect(reply.body.error.requestId).toEqual(expect.any(String));
  expect(reply.body.error.requestId.length).toBeGreaterThan(0);
  return reply.body.error as { code: string; message: string; details: any; requestId: string };
}

async function jobHistory(db: Db, id: string) {
  return db
    .selectFrom('transitions')
    .select(['from_status', 'to_status', 'trigger', 'reason'])
    .where('entity_type', '=', 'CLAUDE_JOB')
    .where('entity_id', '=', id)
    .orderBy('id')
    .execute();
}

describe('the jobs API', () => {
  let env: TestEnv;
  let api: ApiHarness;
  let db: Db;
  let product: string;

  beforeAll(async () => {
    env = await createTestEnv();
    api = await createApiHarness(env);
    db = env.database.db;
    product = await createProduct(db);
  });
  afterAll(async () => {
    await api?.close();
    await env?.teardown();
  });

  const post = (body: unknown) => api.call('POST', '/api/v1/jobs', body);
  const postBatch = (jobs: unknown[]) => api.call('POST', '/api/v1/jobs/batch', { jobs });
  const oneIdea = async (status = 'DRAFT') => (await createIdeas(db, product, 1, status))[0]!;
  const oneTask = async () => (await createTasks(db, product, 1))[0]!;
  const oneRun = async () => (await createSprintRuns(db, product, 1))[0]!;
  const queuedEntry = (kind: JobKind, id: string) => api.queues.queue(kind).getJob(id);

  /** Runs `call`, which must be refused, and checks that it wrote no row of any kind. */
  async function refusedWithoutWrites(call: () => Promise<Reply>): Promise<Reply> {
    const before = await rowCounts(db);
    const reply = await call();
    expect(reply.status).toBeGreaterThanOrEqual(400);
    expect(await rowCounts(db)).toEqual(before);
    return reply;
  }

  /** Every job the list returns for `query`, walking next_cursor to the end. */
  async function listAll(query: string, limit = 200): Promise<any[]> {
    const items: any[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 1000; page++) {
      const reply = await api.call('GET', `/api/v1/jobs?${query}${query ? '&' : ''}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(reply.status).toBe(200);
      items.push(...reply.body.items);
      cursor = reply.body.next_cursor;
      if (cursor === null) return items;
    }
    throw new Error('the list never ended');
  }

  describe('POST /api/v1/jobs', () => {
    it('answers 202 with the job in API spelling, already committed with its history and queued in Redis by id alone', async () => {
      const ideaId = await oneIdea();
      const reply = await post({ kind: 'idea_grill', idea_id: ideaId, payload: { answers: 'Small teams first.' } });

      expect(reply.status).toBe(202);
      expect(reply.body).toEqual({
        id: expect.stringMatching(UUID),
        kind: 'idea_grill',
        status: 'queued',
        idea_id: ideaId,
        task_id: null,
        sprint_run_id: null,
        product_id: expect.stringMatching(UUID),
        owner_id: 'owner-a',
        payload: { answers: 'Small teams first.' },
        result: null,
        error: null,
        attempt_count: 0,
        requeue_count: 0,
        claim_epoch: 0,
        claimed_by_worker_id: null,
        retry_of_job_id: null,
        usage: { input_tokens: null, output_tokens: null, cost_usd: null },
        budget: null,
        progress: null,
        created_at: expect.any(String),
        started_at: null,
        finished_at: null,
        updated_at: expect.any(String),
      });
      expect(new Date(reply.body.created_at).toISOString()).toBe(reply.body.created_at);
      const id: string = reply.body.id;

      const row = await db.selectFrom('claude_jobs').selectAll().where('id', '=', id).executeTakeFirst();
      expect(row).toMatchObject({ kind: 'IDEA_GRILL', status: 'QUEUED', idea_id: ideaId, subject_id: ideaId });
      expect(await jobHistory(db, id)).toEqual([{ from_status: null, to_status: 'QUEUED', trigger: 'created', reason: 'enqueued' }]);

      const entry = await queuedEntry('IDEA_GRILL', id);
      expect(entry).toBeDefined();
      expect(entry!.id).toBe(id);
      expect(entry!.data).toEqual({ id });
      // Waiting in its owner's turn: its priority is the job's turn (src/fairness/turns.ts).
      expect(await entry!.getState()).toBe('prioritized');
      expect(entry!.priority).toBe(1);
    });

    it('moves a draft idea to grilling through the door when a grill job is enqueued', async () => {
      const ideaId = await oneIdea('DRAFT');
      const reply = await post({ kind: 'idea_grill', idea_id: ideaId });
      expect(reply.status).toBe(202);

      expect(await statusOf(db, 'IDEA', ideaId)).toBe('GRILLING');
      const ideaHistory = await db
        .selectFrom('transitions')
        .select(['from_status', 'to_status', 'trigger'])
        .where('entity_type', '=', 'IDEA')
        .where('entity_id', '=', ideaId)
        .orderBy('id')
        .execute();
      expect(ideaHistory.at(-1)).toEqual({ from_status: 'DRAFT', to_status: 'GRILLING', trigger: 'grill_enqueued' });
    });

    it('supersedes a still-queued grill job of the same idea: the older is skipped and leaves its queue, the newest stays queued', async () => {
      const ideaId = await oneIdea('DRAFT');
      const first = await post({ kind: 'idea_grill', idea_id: ideaId });
      expect(first.status).toBe(202);
      expect(await queuedEntry('IDEA_GRILL', first.body.id)).toBeDefined();

      const second = await post({ kind: 'idea_grill', idea_id: ideaId, payload: { answers: 'Only the EU.' } });
      expect(second.status).toBe(202);
      expect(second.body.status).toBe('queued');
      expect(second.body.id).not.toBe(first.body.id);

      const firstNow = await api.call('GET', `/api/v1/jobs/${first.body.id}`);
      expect(firstNow.status).toBe(200);
      expect(firstNow.body.status).toBe('skipped');
      expect(firstNow.body.finished_at).toEqual(expect.any(String));

      const rows = await db
        .selectFrom('claude_jobs')
        .select(['id', 'status'])
        .where('idea_id', '=', ideaId)
        .where('kind', '=', 'IDEA_GRILL')
        .execute();
      expect(rows.filter((row) => row.status === 'QUEUED').map((row) => row.id)).toEqual([second.body.id]);
      expect(await jobHistory(db, first.body.id)).toEqual([
        { from_status: null, to_status: 'QUEUED', trigger: 'created', reason: 'enqueued' },
        { from_status: 'QUEUED', to_status: 'SKIPPED', trigger: 'superseded', reason: `superseded by job ${second.body.id}` },
      ]);

      expect(await queuedEntry('IDEA_GRILL', first.body.id)).toBeUndefined();
      expect((await queuedEntry('IDEA_GRILL', second.body.id))?.data).toEqual({ id: second.body.id });
      // The idea stays in its working status: the newer job still grills it.
      expect(await statusOf(db, 'IDEA', ideaId)).toBe('GRILLING');
    });

    it('refuses a grill job for a grilled idea with 409 naming the allowed statuses, and writes nothing', async () => {
      const ideaId = await oneIdea('GRILLED');
      const reply = await refusedWithoutWrites(() => post({ kind: 'idea_grill', idea_id: ideaId }));
      const error = expectError(reply, 409, 'status_conflict');
      expect(error.details).toMatchObject({ idea_id: ideaId, current: 'grilled' });
      expect([...error.details.allowed].sort()).toEqual(['draft', 'grill_failed']);
      expect(error.message).toContain('draft');
      expect(error.message).toContain('grill_failed');
      expect(await statusOf(db, 'IDEA', ideaId)).toBe('GRILLED');
    });

    it('refuses a make-plan job for a draft idea with 409, and writes nothing', async () => {
      const ideaId = await oneIdea('DRAFT');
      const reply = await refusedWithoutWrites(() => post({ kind: 'idea_make_plan', idea_id: ideaId }));
      const error = expectError(reply, 409, 'status_conflict');
      expect(error.details).toMatchObject({ idea_id: ideaId, current: 'draft' });
      expect([...error.details.allowed].sort()).toEqual(['grilled', 'plan_failed']);
      expect(await statusOf(db, 'IDEA', ideaId)).toBe('DRAFT');
    });

    it('moves a grilled idea to planning when a make-plan job is enqueued', async () => {
      const ideaId = await oneIdea('GRILLED');
      const reply = await post({ kind: 'idea_make_plan', idea_id: ideaId, payload: { guidance: 'Keep it to one PBI.' } });
      expect(reply.status).toBe(202);
      expect(reply.body).toMatchObject({ kind: 'idea_make_plan', status: 'queued', idea_id: ideaId });
      expect(await statusOf(db, 'IDEA', ideaId)).toBe('PLANNING');
    });

    it('logs a plan chat message as a CHAT_MESSAGE of its idea, tied to the job', async () => {
      const ideaId = await oneIdea('PLAN_READY');
      const reply = await post({ kind: 'plan_chat', idea_id: ideaId, payload: { message: 'Can we split the first story?' } });
      expect(reply.status).toBe(202);
      expect(reply.body).toMatchObject({
        kind: 'plan_chat',
        status: 'queued',
        idea_id: ideaId,
        payload: { message: 'Can we split the first story?' },
      });

      const logs = await db.selectFrom('idea_logs').select(['type', 'content', 'job_id']).where('idea_id', '=', ideaId).execute();
      expect(logs).toEqual([{ type: 'CHAT_MESSAGE', content: 'Can we split the first story?', job_id: reply.body.id }]);
      // Chatting does not move the idea.
      expect(await statusOf(db, 'IDEA', ideaId)).toBe('PLAN_READY');
    });

    it('refuses an implementation job for a done task with 409, and writes nothing', async () => {
      const task = await inTrx(db, (trx) => rowIn(trx, 'TASK', 'DONE'));
      const reply = await refusedWithoutWrites(() => post({ kind: 'task_implementation', task_id: task.id }));
      const error = expectError(reply, 409, 'status_conflict');
      expect(error.details).toEqual({ task_id: task.id, current: 'done', allowed: ['todo', 'in_progress'] });
      expect(await statusOf(db, 'TASK', task.id)).toBe('DONE');
    });

    it('queues an implementation job for a task that is still to do, without moving the task yet', async () => {
      const taskId = await oneTask();
      const reply = await post({ kind: 'task_implementation', task_id: taskId, payload: { instructions: 'Use the existing helper.' } });
      expect(reply.status).toBe(202);
      expect(reply.body).toMatchObject({
        kind: 'task_implementation',
        status: 'queued',
        task_id: taskId,
        idea_id: null,
        sprint_run_id: null,
      });
      expect(await statusOf(db, 'TASK', taskId)).toBe('TO_DO');
      expect((await queuedEntry('TASK_IMPLEMENTATION', reply.body.id))?.data).toEqual({ id: reply.body.id });
    });

    it('answers 404 naming a subject that does not exist, for every kind of subject, and writes nothing', async () => {
      const cases = [
        { body: { kind: 'idea_grill', idea_id: MISSING_ID }, field: 'idea_id', noun: 'idea' },
        { body: { kind: 'plan_chat', idea_id: MISSING_ID, payload: { message: 'hello?' } }, field: 'idea_id', noun: 'idea' },
        { body: { kind: 'task_implementation', task_id: MISSING_ID }, field: 'task_id', noun: 'task' },
        { body: { kind: 'sprint_implementation', sprint_run_id: MISSING_ID }, field: 'sprint_run_id', noun: 'sprint run' },
      ];
      for (const { body, field, noun } of cases) {
        const error = expectError(await refusedWithoutWrites(() => post(body)), 404, 'not_found');
        expect(error.message).toContain(noun);
        expect(error.message).toContain(MISSING_ID);
        expect(error.details).toEqual({ [field]: MISSING_ID });
      }
    });

    it('answers concurrent calls one by one: each good job is committed and queued, each bad one fails alone', async () => {
      const ideas = await createIdeas(db, product, 30, 'PLAN_READY');
      const [twice] = await createIdeas(db, product, 1, 'PLAN_READY');
      const before = await rowCounts(db);
      const replies = await Promise.all([
        ...ideas.map((ideaId) => post({ kind: 'plan_chat', idea_id: ideaId, payload: { message: `about ${ideaId}` } })),
        post({ kind: 'plan_chat', idea_id: MISSING_ID, payload: { message: 'nobody here' } }),
        post({ kind: 'plan_chat', idea_id: ideas[0], payload: {} }),
        post({ kind: 'plan_chat', idea_id: twice, payload: { message: 'first' } }),
        post({ kind: 'plan_chat', idea_id: twice, payload: { message: 'second' } }),
      ]);
      const good = replies.slice(0, ideas.length);
      for (const [index, reply] of good.entries()) {
        expect(reply.status).toBe(202);
        expect(reply.body).toMatchObject({
          kind: 'plan_chat',
          status: 'queued',
          idea_id: ideas[index],
          payload: { message: `about ${ideas[index]}` },
        });
        expect((await queuedEntry('PLAN_CHAT', reply.body.id))?.data).toEqual({ id: reply.body.id });
      }
      expect(expectError(replies[ideas.length]!, 404, 'not_found').details).toEqual({ idea_id: MISSING_ID });
      const invalid = expectError(replies[ideas.length + 1]!, 422, 'validation_failed');
      expect(invalid.details.issues).toEqual([{ path: 'payload.message', message: expect.any(String) }]);

      // Both calls for one idea are accepted; one of the two jobs is left queued, the other superseded.
      const pair = replies.slice(ideas.length + 2);
      expect(pair.map((reply) => reply.status)).toEqual([202, 202]);
      const statuses = await Promise.all(pair.map((reply) => statusOf(db, 'CLAUDE_JOB', reply.body.id)));
      expect(statuses.sort()).toEqual(['QUEUED', 'SKIPPED']);
      // 32 jobs and 32 chat messages, one created row in history each plus the superseded edge.
      expect(await rowCounts(db)).toEqual({
        ...before,
        claude_jobs: before.claude_jobs! + 32,
        idea_logs: before.idea_logs! + 32,
        transitions: before.transitions! + 33,
      });
    });
  });

  describe('POST /api/v1/jobs validation', () => {
    it('refuses an unknown kind with 422 listing every allowed kind', async () => {
      const ideaId = await oneIdea();
      const error = expectError(await refusedWithoutWrites(() => post({ kind: 'idea_roast', idea_id: ideaId })), 422, 'validation_failed');
      for (const kind of ALL_KINDS) expect(error.message).toContain(kind);
      expect(error.details.issues).toHaveLength(1);
      expect(error.details.issues[0].path).toBe('kind');
      for (const kind of ALL_KINDS) expect(error.details.issues[0].message).toContain(kind);
    });

    it('refuses a job without the subject field its kind needs with 422 naming that field', async () => {
      const cases = [
        { kind: 'idea_grill', field: 'idea_id' },
        { kind: 'idea_make_plan', field: 'idea_id' },
        { kind: 'task_implementation', field: 'task_id' },
        { kind: 'sprint_implementation', field: 'sprint_run_id' },
      ];
      for (const { kind, field } of cases) {
        const error = expectError(await refusedWithoutWrites(() => post({ kind })), 422, 'validation_failed');
        expect(error.message).toContain(field);
        expect(error.details.issues).toEqual([{ path: field, message: expect.stringContaining(kind) }]);
      }
    });

    it('refuses a subject field that belongs to another kind with 422 naming it', async () => {
      const ideaId = await oneIdea();
      const taskId = await oneTask();
      const grillWithTask = expectError(
        await refusedWithoutWrites(() => post({ kind: 'idea_grill', idea_id: ideaId, task_id: taskId })),
        422,
        'validation_failed',
      );
      expect(grillWithTask.details.issues).toEqual([{ path: 'task_id', message: expect.stringContaining('idea_id') }]);

      const sprintWithIdea = expectError(
        await refusedWithoutWrites(() => post({ kind: 'sprint_implementation', sprint_run_id: MISSING_ID, idea_id: ideaId })),
        422,
        'validation_failed',
      );
      expect(sprintWithIdea.details.issues.map((issue: { path: string }) => issue.path)).toEqual(['idea_id']);

      // Only the other subject, not the kind's own: both problems are named.
      const taskWithIdea = expectError(
        await refusedWithoutWrites(() => post({ kind: 'task_implementation', idea_id: ideaId })),
        422,
        'validation_failed',
      );
      expect(taskWithIdea.details.issues.map((issue: { path: string }) => issue.path).sort()).toEqual(['idea_id', 'task_id']);
      expect(await statusOf(db, 'IDEA', ideaId)).toBe('DRAFT');
    });

    it('refuses a malformed uuid with 422 naming the field', async () => {
      const error = expectError(
        await refusedWithoutWrites(() => post({ kind: 'idea_grill', idea_id: 'not-a-uuid' })),
        422,
        'validation_failed',
      );
      expect(error.details.issues).toEqual([{ path: 'idea_id', message: 'must be a UUID' }]);
      expect(error.message).toContain('idea_id');
    });

    it('refuses a payload the kind does not allow with 422 naming the payload field', async () => {
      const ideaId = await oneIdea('PLAN_READY');
      const noMessage = expectError(
        await refusedWithoutWrites(() => post({ kind: 'plan_chat', idea_id: ideaId })),
        422,
        'validation_failed',
      );
      expect(noMessage.details.issues.map((issue: { path: string }) => issue.path)).toEqual(['payload.message']);
      expect(noMessage.message).toContain('plan_chat');

      const blankMessage = expectError(
        await refusedWithoutWrites(() => post({ kind: 'plan_chat', idea_id: ideaId, payload: { message: '   ' } })),
        422,
        'validation_failed',
      );
      expect(blankMessage.details.issues.map((issue: { path: string }) => issue.path)).toEqual(['payload.message']);

      const unknownField = expectError(
        await refusedWithoutWrites(() => post({ kind: 'idea_grill', idea_id: ideaId, payload: { temperature: 2 } })),
        422,
        'validation_failed',
      );
      expect(unknownField.details.issues).toHaveLength(1);
      expect(unknownField.details.issues[0].path).toMatch(/^payload/);
      expect(unknownField.details.issues[0].message).toContain('temperature');

      const notAnObject = expectError(
        await refusedWithoutWrites(() => post({ kind: 'idea_grill', idea_id: ideaId, payload: 'grill it' })),
        422,
        'validation_failed',
      );
      expect(notAnObject.details.issues.map((issue: { path: string }) => issue.path)).toEqual(['payload']);
      expect(await statusOf(db, 'IDEA', ideaId)).toBe('PLAN_READY');
    });

    it('refuses an unknown top-level field with 422 naming it', async () => {
      const ideaId = await oneIdea();
      const error = expectError(
        await refusedWithoutWrites(() => post({ kind: 'idea_grill', idea_id: ideaId, priority: 'high' })),
        422,
        'validation_failed',
      );
      expect(error.details.issues).toHaveLength(1);
      expect(error.details.issues[0].message).toContain('priority');
      expect(await statusOf(db, 'IDEA', ideaId)).toBe('DRAFT');
    });

    it('refuses malformed JSON with 400 in the error shape', async () => {
      const reply = await refusedWithoutWrites(() => post('{"kind": "idea_grill", "idea_id": '));
      expectError(reply, 400, 'bad_request');
    });

    it('refuses a body that is not sent as JSON with 415', async () => {
      const ideaId = await oneIdea();
      const before = await rowCounts(db);
      const response = await api.app.request('/api/v1/jobs', {
        method: 'POST',
        headers: { 'content-type': 'text/plain', authorization: `Bearer ${api.adminSecret}` },
        body: JSON.stringify({ kind: 'idea_grill', idea_id: ideaId }),
      });
      expectError({ status: response.status, body: await response.json() }, 415, 'unsupported_media_type');
      expect(await rowCounts(db)).toEqual(before);
      expect(await statusOf(db, 'IDEA', ideaId)).toBe('DRAFT');
    });

    it('refuses a body that is not an object with 422', async () => {
      expectError(await refusedWithoutWrites(() => post([{ kind: 'idea_grill' }])), 422, 'validation_failed');
    });
  });

  describe('GET /api/v1/jobs/{id}', () => {
    it('answers 200 with the same shape the enqueue answered', async () => {
      const ideaId = await oneIdea();
      const created = await post({ kind: 'idea_grill', idea_id: ideaId });
      expect(created.status).toBe(202);

      const read = await api.call('GET', `/api/v1/jobs/${created.body.id}`);
      expect(read.status).toBe(200);
      expect(read.body).toEqual(created.body);
    });

    it('answers 404 for a uuid that names no job and for an id that is not a uuid', async () => {
      const unknown = expectError(await api.call('GET', `/api/v1/jobs/${MISSING_ID}`), 404, 'not_found');
      expect(unknown.message).toContain(MISSING_ID);
      const malformed = expectError(await api.call('GET', '/api/v1/jobs/not-a-job'), 404, 'not_found');
      expect(malformed.message).toContain('not-a-job');
    });
  });

  describe('GET /api/v1/jobs', () => {
    it('filters by a comma list of statuses, by kind, and by idea, task, sprint run and subject', async () => {
      const [ideaA, ideaB] = await createIdeas(db, product, 2, 'DRAFT');
      const taskId = await oneTask();
      const runId = await oneRun();

      const grill1 = (await post({ kind: 'idea_grill', idea_id: ideaA })).body;
      const grill2 = (await post({ kind: 'idea_grill', idea_id: ideaA })).body;
      const chatA = (await post({ kind: 'plan_chat', idea_id: ideaA, payload: { message: 'hi' } })).body;
      const grillB = (await post({ kind: 'idea_grill', idea_id: ideaB })).body;
      const taskJob = (await post({ kind: 'task_implementation', task_id: taskId })).body;
      const runJob = (await post({ kind: 'sprint_implementation', sprint_run_id: runId })).body;
      expect((await api.call('POST', `/api/v1/jobs/${grillB.id}/cancel`)).status).toBe(200);

      const ids = (items: { id: string }[]) => items.map((item) => item.id).sort();

      const byIdea = await listAll(`idea_id=${ideaA}`);
      expect(ids(byIdea)).toEqual([grill1.id, grill2.id, chatA.id].sort());

      const queuedOrSkipped = await listAll('status=queued,skipped');
      expect(queuedOrSkipped.length).toBeGreaterThan(0);
      expect(queuedOrSkipped.every((job) => job.status === 'queued' || job.status === 'skipped')).toBe(true);
      const seen = new Set(queuedOrSkipped.map((job) => job.id));
      for (const id of [grill1.id, grill2.id, chatA.id, taskJob.id, runJob.id]) expect(seen.has(id)).toBe(true);
      expect(seen.has(grillB.id)).toBe(false);

      expect(ids(await listAll(`idea_id=${ideaA}&status=skipped`))).toEqual([grill1.id]);
      expect(ids(await listAll(`idea_id=${ideaA}&status=queued`))).toEqual([grill2.id, chatA.id].sort());
      expect(ids(await listAll(`idea_id=${ideaB}&status=cancelled`))).toEqual([grillB.id]);
      expect(await listAll(`idea_id=${ideaB}&status=queued,skipped`)).toEqual([]);

      const chats = await listAll('kind=plan_chat');
      expect(chats.every((job) => job.kind === 'plan_chat')).toBe(true);
      expect(chats.map((job) => job.id)).toContain(chatA.id);
      expect(ids(await listAll(`kind=idea_grill,plan_chat&idea_id=${ideaA}`))).toEqual([grill1.id, grill2.id, chatA.id].sort());
      expect(ids(await listAll(`kind=idea_grill&idea_id=${ideaA}`))).toEqual([grill1.id, grill2.id].sort());

      expect(ids(await listAll(`task_id=${taskId}`))).toEqual([taskJob.id]);
      expect(ids(await listAll(`sprint_run_id=${runId}`))).toEqual([runJob.id]);
      expect(ids(await listAll(`subject_id=${taskId}`))).toEqual([taskJob.id]);
      expect(ids(await listAll(`subject_id=${runId}`))).toEqual([runJob.id]);
      expect(ids(await listAll(`subject_id=${ideaB}`))).toEqual([grillB.id]);
      expect(await listAll(`subject_id=${MISSING_ID}`)).toEqual([]);
    });

    it('refuses an unknown status with 422 listing every allowed status', async () => {
      const error = expectError(await api.call('GET', '/api/v1/jobs?status=queued,pending'), 422, 'validation_failed');
      expect(error.details.issues).toHaveLength(1);
      expect(error.details.issues[0].path).toBe('status');
      expect(error.details.issues[0].message).toContain('pending');
      for (const status of ALL_STATUSES) expect(error.details.issues[0].message).toContain(status);
      for (const status of ALL_STATUSES) expect(error.message).toContain(status);
    });

    it('refuses an unknown kind and a malformed id filter with 422', async () => {
      const kind = expectError(await api.call('GET', '/api/v1/jobs?kind=idea_roast'), 422, 'validation_failed');
      for (const k of ALL_KINDS) expect(kind.message).toContain(k);
      const idea = expectError(await api.call('GET', '/api/v1/jobs?idea_id=nope'), 422, 'validation_failed');
      expect(idea.details.issues.map((issue: { path: string }) => issue.path)).toEqual(['idea_id']);
    });

    it('walks every job exactly once, newest first, across pages of 7, even for 25 jobs created in one batch', async () => {
      const tasks = await createTasks(db, product, 25);
      const batch = await postBatch(tasks.map((task_id) => ({ kind: 'task_implementation', task_id })));
      expect(batch.status).toBe(202);
      const batchIds: string[] = batch.body.jobs.map((job: { id: string }) => job.id);
      expect(new Set(batchIds).size).toBe(25);

      const pages: any[][] = [];
      let cursor: string | null = null;
      do {
        const reply: Reply = await api.call('GET', `/api/v1/jobs?limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        expect(reply.status).toBe(200);
        pages.push(reply.body.items);
        cursor = reply.body.next_cursor;
        expect(pages.length).toBeLessThan(1000);
      } while (cursor !== null);

      const walked: string[] = pages.flat().map((job) => job.id);
      const expected = (await db.selectFrom('claude_jobs').select('id').orderBy('created_at', 'desc').orderBy('id', 'desc').execute()).map(
        (row) => row.id,
      );
      expect(expected.length).toBeGreaterThanOrEqual(25);
      expect(walked).toEqual(expected);
      expect(new Set(walked).size).toBe(walked.length);
      for (const id of batchIds) expect(walked.filter((seen) => seen === id)).toHaveLength(1);
      // Every page is full except the last, which is not empty.
      for (const page of pages.slice(0, -1)) expect(page).toHaveLength(7);
      expect(pages.at(-1)!.length).toBeGreaterThan(0);
      expect(pages.at(-1)!.length).toBeLessThanOrEqual(7);
      // Newest first, as the API shows it too.
      const created = pages.flat().map((job) => Date.parse(job.created_at));
      for (let i = 1; i < created.length; i++) expect(created[i]!).toBeLessThanOrEqual(created[i - 1]!);

      // The same walk inside a filter: the batch alone, by its kind and status.
      const filtered = await listAll(`kind=task_implementation&status=queued`, 7);
      const filteredIds = filtered.map((job) => job.id);
      expect(new Set(filteredIds).size).toBe(filteredIds.length);
      for (const id of batchIds) expect(filteredIds).toContain(id);
    });

    it('walks jobs that share one created_at to the microsecond exactly once', async () => {
      const tasks = await createTasks(db, product, 25);
      const batch = await postBatch(tasks.map((task_id) => ({ kind: 'task_implementation', task_id })));
      expect(batch.status).toBe(202);
      const batchIds: string[] = batch.body.jobs.map((job: { id: string }) => job.id);
      // A shared instant with microseconds a JS Date cannot hold: only the id tells these apart.
      await sql`UPDATE claude_jobs SET created_at = timestamptz '2001-02-03 04:05:06.789123+00' WHERE id = ANY(${batchIds}::uuid[])`.execute(
        db,
      );

      const walked = (await listAll('', 7)).map((job) => job.id);
      const expected = (await db.selectFrom('claude_jobs').select('id').orderBy('created_at', 'desc').orderBy('id', 'desc').execute()).map(
        (row) => row.id,
      );
      expect(walked).toEqual(expected);
      expect(walked.filter((id) => batchIds.includes(id))).toEqual([...batchIds].sort().reverse());
    });

    it('refuses a cursor it did not issue with 422', async () => {
      const garbage = expectError(await api.call('GET', '/api/v1/jobs?cursor=definitely-not-a-cursor'), 422, 'validation_failed');
      expect(garbage.details.issues).toEqual([{ path: 'cursor', message: expect.any(String) }]);
      const wellFormedButWrong = Buffer.from(JSON.stringify({ createdMicros: '1; DROP TABLE claude_jobs', id: MISSING_ID })).toString(
        'base64url',
      );
      expectError(await api.call('GET', `/api/v1/jobs?cursor=${wellFormedButWrong}`), 422, 'validation_failed');
      const notAnObject = Buffer.from('42').toString('base64url');
      expectError(await api.call('GET', `/api/v1/jobs?cursor=${notAnObject}`), 422, 'validation_failed');
    });

    it('refuses a limit outside 1 to 200 with 422 naming limit', async () => {
      for (const limit of ['0', '500', '201', '-3', '2.5', 'ten']) {
        const error = expectError(await api.call('GET', `/api/v1/jobs?limit=${limit}`), 422, 'validation_failed');
        expect(error.details.issues.map((issue: { path: string }) => issue.path)).toEqual(['limit']);
      }
      const ok = await api.call('GET', '/api/v1/jobs?limit=200');
      expect(ok.status).toBe(200);
      expect(ok.body.items.length).toBeLessThanOrEqual(200);
    });
  });

  describe('POST /api/v1/jobs/batch', () => {
    it('enqueues jobs of every kind in one call and answers with them in request order', async () => {
      const [draft, grilled, ready] = [await oneIdea('DRAFT'), await oneIdea('GRILLED'), await oneIdea('PLAN_READY')];
      const taskId = await oneTask();
      const runId = await oneRun();
      const requests = [
        { kind: 'sprint_implementation', sprint_run_id: runId },
        { kind: 'idea_grill', idea_id: draft },
        { kind: 'task_implementation', task_id: taskId },
        { kind: 'plan_chat', idea_id: ready, payload: { message: 'And the second one?' } },
        { kind: 'idea_make_plan', idea_id: grilled },
      ];
      const reply = await postBatch(requests);
      expect(reply.status).toBe(202);
      expect(Object.keys(reply.body)).toEqual(['jobs']);
      expect(reply.body.jobs.map((job: any) => [job.kind, job.status, job.idea_id ?? job.task_id ?? job.sprint_run_id])).toEqual([
        ['sprint_implementation', 'queued', runId],
        ['idea_grill', 'queued', draft],
        ['task_implementation', 'queued', taskId],
        ['plan_chat', 'queued', ready],
        ['idea_make_plan', 'queued', grilled],
      ]);

      const kinds: JobKind[] = ['SPRINT_IMPLEMENTATION', 'IDEA_GRILL', 'TASK_IMPLEMENTATION', 'PLAN_CHAT', 'IDEA_MAKE_PLAN'];
      for (const [index, job] of (reply.body.jobs as { id: string }[]).entries()) {
        expect((await db.selectFrom('claude_jobs').select('status').where('id', '=', job.id).executeTakeFirst())?.status).toBe('QUEUED');
        expect((await queuedEntry(kinds[index]!, job.id))?.data).toEqual({ id: job.id });
      }
      expect(await statusOf(db, 'IDEA', draft)).toBe('GRILLING');
      expect(await statusOf(db, 'IDEA', grilled)).toBe('PLANNING');
      expect(await db.selectFrom('idea_logs').select('type').where('idea_id', '=', ready).execute()).toEqual([{ type: 'CHAT_MESSAGE' }]);
    });

    it('keeps only the last of several jobs of one kind for one subject in a batch queued', async () => {
      const ideaId = await oneIdea('DRAFT');
      const reply = await postBatch([
        { kind: 'idea_grill', idea_id: ideaId },
        { kind: 'idea_grill', idea_id: ideaId, payload: { answers: 'second thoughts' } },
      ]);
      expect(reply.status).toBe(202);
      const [older, newer] = reply.body.jobs as { id: string; status: string }[];
      expect([older!.status, newer!.status]).toEqual(['skipped', 'queued']);
      expect((await api.call('GET', `/api/v1/jobs/${older!.id}`)).body.status).toBe('skipped');
      expect(await queuedEntry('IDEA_GRILL', older!.id)).toBeUndefined();
      expect((await queuedEntry('IDEA_GRILL', newer!.id))?.data).toEqual({ id: newer!.id });
      expect(await statusOf(db, 'IDEA', ideaId)).toBe('GRILLING');
    });

    it('refuses 1001 jobs with 422 and writes nothing', async () => {
      const ideaId = await oneIdea('PLAN_READY');
      const jobs = Array.from({ length: 1001 }, () => ({ kind: 'plan_chat', idea_id: ideaId, payload: { message: 'again' } }));
      const error = expectError(await refusedWithoutWrites(() => postBatch(jobs)), 422, 'validation_failed');
      expect(error.message).toContain('1000');
      expect(error.details.issues.map((issue: { path: string }) => issue.path)).toEqual(['jobs']);
    });

    it('refuses an empty batch with 422', async () => {
      expectError(await refusedWithoutWrites(() => postBatch([])), 422, 'validation_failed');
    });

    it('writes nothing of the batch when one of its jobs names a subject that does not exist', async () => {
      const draft = await oneIdea('DRAFT');
      const ready = await oneIdea('PLAN_READY');
      const taskId = await oneTask();
      const reply = await refusedWithoutWrites(() =>
        postBatch([
          { kind: 'idea_grill', idea_id: draft },
          { kind: 'plan_chat', idea_id: ready, payload: { message: 'lost?' } },
          { kind: 'task_implementation', task_id: taskId },
          { kind: 'idea_grill', idea_id: MISSING_ID },
        ]),
      );
      const error = expectError(reply, 404, 'not_found');
      expect(error.message).toContain(MISSING_ID);
      expect(error.details).toEqual({ idea_id: MISSING_ID });
      expect(await statusOf(db, 'IDEA', draft)).toBe('DRAFT');
      expect(await db.selectFrom('claude_jobs').select('id').where('subject_id', 'in', [draft, ready, taskId]).execute()).toEqual([]);
    });

    it('writes nothing of the batch when one of its jobs is refused by its subject status', async () => {
      const draft = await oneIdea('DRAFT');
      const grilled = await oneIdea('GRILLED');
      const reply = await refusedWithoutWrites(() =>
        postBatch([
          { kind: 'idea_grill', idea_id: draft },
          { kind: 'idea_grill', idea_id: grilled },
        ]),
      );
      const error = expectError(reply, 409, 'status_conflict');
      expect(error.details).toMatchObject({ idea_id: grilled, current: 'grilled' });
      expect(await statusOf(db, 'IDEA', draft)).toBe('DRAFT');
    });

    it('names the position of an invalid job in the batch', async () => {
      const draft = await oneIdea('DRAFT');
      const error = expectError(
        await refusedWithoutWrites(() => postBatch([{ kind: 'idea_grill', idea_id: draft }, { kind: 'task_implementation' }])),
        422,
        'validation_failed',
      );
      expect(error.details.issues.map((issue: { path: string }) => issue.path)).toEqual(['jobs[1].task_id']);
      expect(await statusOf(db, 'IDEA', draft)).toBe('DRAFT');
    });
  });

  describe('POST /api/v1/jobs/{id}/cancel', () => {
    it('cancels a queued job: 200 cancelled, out of its queue, with a QUEUED to CANCELLED history row by user_cancels', async () => {
      const ideaId = await oneIdea('PLAN_READY');
      const created = await post({ kind: 'plan_chat', idea_id: ideaId, payload: { message: 'never mind' } });
      expect(created.status).toBe(202);
      expect(await queuedEntry('PLAN_CHAT', created.body.id)).toBeDefined();

      const reply = await api.call('POST', `/api/v1/jobs/${created.body.id}/cancel`, { reason: 'asked twice' });
      expect(reply.status).toBe(200);
      expect(reply.body).toMatchObject({ id: created.body.id, kind: 'plan_chat', status: 'cancelled', finished_at: expect.any(String) });
      expect(reply.body.error).toMatchObject({ code: 'cancelled', message: 'asked twice' });

      expect(await queuedEntry('PLAN_CHAT', created.body.id)).toBeUndefined();
      expect((await db.selectFrom('claude_jobs').select('status').where('id', '=', created.body.id).executeTakeFirstOrThrow()).status).toBe(
        'CANCELLED',
      );
      expect((await jobHistory(db, created.body.id)).at(-1)).toEqual({
        from_status: 'QUEUED',
        to_status: 'CANCELLED',
        trigger: 'user_cancels',
        reason: 'asked twice',
      });
      expect((await api.call('GET', `/api/v1/jobs/${created.body.id}`)).body.status).toBe('cancelled');
    });

    it('cancels without a body too', async () => {
      const taskId = await oneTask();
      const created = await post({ kind: 'task_implementation', task_id: taskId });
      const reply = await api.call('POST', `/api/v1/jobs/${created.body.id}/cancel`);
      expect(reply.status).toBe(200);
      expect(reply.body.status).toBe('cancelled');
      expect(await statusOf(db, 'TASK', taskId)).toBe('TO_DO');
    });

    it('moves the idea of a cancelled grill job to grill_failed', async () => {
      const ideaId = await oneIdea('DRAFT');
      const created = await post({ kind: 'idea_grill', idea_id: ideaId });
      expect(await statusOf(db, 'IDEA', ideaId)).toBe('GRILLING');

      expect((await api.call('POST', `/api/v1/jobs/${created.body.id}/cancel`)).status).toBe(200);
      expect(await statusOf(db, 'IDEA', ideaId)).toBe('GRILL_FAILED');

      // A failed grill may be retried.
      const retry = await post({ kind: 'idea_grill', idea_id: ideaId });
      expect(retry.status).toBe(202);
      expect(await statusOf(db, 'IDEA', ideaId)).toBe('GRILLING');
    });

    it('refuses to cancel a job twice with 409 naming its current status and no allowed transitions', async () => {
      const ideaId = await oneIdea('PLAN_READY');
      const created = await post({ kind: 'plan_chat', idea_id: ideaId, payload: { message: 'once' } });
      expect((await api.call('POST', `/api/v1/jobs/${created.body.id}/cancel`)).status).toBe(200);

      const before = await rowCounts(db);
      const error = expectError(await api.call('POST', `/api/v1/jobs/${created.body.id}/cancel`), 409, 'invalid_transition');
      expect(error.details).toEqual({ current: 'cancelled', allowed: [] });
      expect(error.message).toContain('cancelled');
      expect(await rowCounts(db)).toEqual(before);
      expect(await jobHistory(db, created.body.id)).toHaveLength(2);
    });

    it('refuses to cancel a skipped job with 409', async () => {
      const ideaId = await oneIdea('DRAFT');
      const first = await post({ kind: 'idea_grill', idea_id: ideaId });
      await post({ kind: 'idea_grill', idea_id: ideaId });
      const error = expectError(await api.call('POST', `/api/v1/jobs/${first.body.id}/cancel`), 409, 'invalid_transition');
      expect(error.details).toEqual({ current: 'skipped', allowed: [] });
      expect(await statusOf(db, 'IDEA', ideaId)).toBe('GRILLING');
    });

    it('answers 404 for a job that does not exist', async () => {
      const unknown = expectError(await api.call('POST', `/api/v1/jobs/${MISSING_ID}/cancel`), 404, 'not_found');
      expect(unknown.message).toContain(MISSING_ID);
      expectError(await api.call('POST', '/api/v1/jobs/nope/cancel'), 404, 'not_found');
    });

    it('refuses a cancel body with unknown fields with 422', async () => {
      const ideaId = await oneIdea('PLAN_READY');
      const created = await post({ kind: 'plan_chat', idea_id: ideaId, payload: { message: 'keep me' } });
      expectError(await api.call('POST', `/api/v1/jobs/${created.body.id}/cancel`, { why: 'no' }), 422, 'validation_failed');
      expect((await api.call('GET', `/api/v1/jobs/${created.body.id}`)).body.status).toBe('queued');
    });
  });

  describe('GET /api/v1/jobs/{id}/history', () => {
    it("lists the job's status changes oldest first, in API spelling", async () => {
      const ideaId = await oneIdea('DRAFT');
      const first = await post({ kind: 'idea_grill', idea_id: ideaId });
      const second = await post({ kind: 'idea_grill', idea_id: ideaId });
      expect((await api.call('POST', `/api/v1/jobs/${second.body.id}/cancel`, { reason: 'changed my mind' })).status).toBe(200);

      const superseded = await api.call('GET', `/api/v1/jobs/${first.body.id}/history`);
      expect(superseded.status).toBe(200);
      expect(superseded.body.items.map((item: any) => ({ from: item.from, to: item.to, trigger: item.trigger }))).toEqual([
        { from: null, to: 'queued', trigger: 'created' },
        { from: 'queued', to: 'skipped', trigger: 'superseded' },
      ]);

      const cancelled = await api.call('GET', `/api/v1/jobs/${second.body.id}/history`);
      expect(cancelled.status).toBe(200);
      const { id: adminTokenId } = await db.selectFrom('api_tokens').select('id').where('owner_id', '=', 'admin').executeTakeFirstOrThrow();
      expect(cancelled.body.items).toEqual([
        {
          id: expect.any(String),
          entity_type: 'job',
          entity_id: second.body.id,
          from: null,
          to: 'queued',
          trigger: 'created',
          actor_token_id: adminTokenId,
          reason: 'enqueued',
          artifacts: null,
          at: expect.any(String),
        },
        {
          id: expect.any(String),
          entity_type: 'job',
          entity_id: second.body.id,
          from: 'queued',
          to: 'cancelled',
          trigger: 'user_cancels',
          actor_token_id: adminTokenId,
          reason: 'changed my mind',
          artifacts: null,
          at: expect.any(String),
        },
      ]);
      const [created, cancel] = cancelled.body.items;
      expect(Date.parse(created.at)).toBeLessThanOrEqual(Date.parse(cancel.at));
    });

    it('answers 404 for a job that does not exist', async () => {
      expectError(await api.call('GET', `/api/v1/jobs/${MISSING_ID}/history`), 404, 'not_found');
      expectError(await api.call('GET', '/api/v1/jobs/nope/history'), 404, 'not_found');
    });
  });

  describe('GET /api/v1/openapi.json', () => {
    it('documents every /jobs route with its method', async () => {
      const reply = await api.call('GET', '/api/v1/openapi.json');
      expect(reply.status).toBe(200);
      const paths = reply.body.paths as Record<string, Record<string, unknown>>;
      const routes = Object.entries(paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
      for (const route of [
        'POST /api/v1/jobs',
        'POST /api/v1/jobs/batch',
        'GET /api/v1/jobs',
        'GET /api/v1/jobs/{id}',
        'POST /api/v1/jobs/{id}/cancel',
        'GET /api/v1/jobs/{id}/history',
      ]) {
        expect(routes).toContain(route);
      }
    });
  });
});

describe('a body larger than BODY_LIMIT_BYTES', () => {
  let env: TestEnv;
  let api: ApiHarness;
  let ideaId: string;

  beforeAll(async () => {
    env = await createTestEnv({ BODY_LIMIT_BYTES: '2048' });
    api = await createApiHarness(env);
    ideaId = (await createIdeas(env.database.db, await createProduct(env.database.db), 1, 'PLAN_READY'))[0]!;
  });
  afterAll(async () => {
    await api?.close();
    await env?.teardown();
  });

  it('is refused with 413 in the error shape and writes nothing, while a body under the limit is accepted', async () => {
    const db = env.database.db;
    const before = await rowCounts(db);
    const big = await api.call('POST', '/api/v1/jobs', { kind: 'plan_chat', idea_id: ideaId, payload: { message: 'x'.repeat(4_000) } });
    expectError(big, 413, 'payload_too_large');
    expect(await rowCounts(db)).toEqual(before);

    const small = await api.call('POST', '/api/v1/jobs', { kind: 'plan_chat', idea_id: ideaId, payload: { message: 'x'.repeat(1_500) } });
    expect(small.status).toBe(202);
  });

  it('is refused over a socket both by its Content-Length and, when chunked, as it streams in', async () => {
    const server = serve({ fetch: api.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as AddressInfo;
    const post = (message: string, chunked: boolean) =>
      new Promise<number>((resolve, reject) => {
        const body = JSON.stringify({ kind: 'plan_chat', idea_id: ideaId, payload: { message } });
        const request = http.request(
          {
            host: '127.0.0.1',
            port,
            path: '/api/v1/jobs',
            method: 'POST',
            headers: {
              authorization: `Bearer ${api.adminSecret}`,
              'content-type': 'application/json',
              ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': Buffer.byteLength(body) }),
            },
          },
          (response) => {
            response.resume();
            response.on('end', () => resolve(response.statusCode ?? 0));
          },
        );
        request.on('error', reject);
        // Chunked: two writes, so the limit is met while the body streams.
        request.write(body.slice(0, 100));
        request.end(body.slice(100));
      });
    try {
      const before = await rowCounts(env.database.db);
      expect(await post('x'.repeat(4_000), false)).toBe(413);
      expect(await post('x'.repeat(4_000), true)).toBe(413);
      expect(await rowCounts(env.database.db)).toEqual(before);
      expect(await post('x'.repeat(1_500), false)).toBe(202);
      expect(await post('y'.repeat(1_500), true)).toBe(202);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('durable before acknowledged', () => {
  let redis: PrivateRedis;
  let env: TestEnv;
  let api: ApiHarness;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    env = await createTestEnv({}, { redisUrl: redis.url });
    api = await createApiHarness(env);
  });
  afterAll(async () => {
    await api?.close();
    await env?.teardown();
    await redis?.stop();
  });

  /** The status of the harness's producer connection: the ioredis client its queues were given. */
  const producerStatus = async () => (api.queues.queue('IDEA_GRILL').opts.connection as Redis).status;

  it('accepts a job while Redis is down, and the sweep queues it once Redis is back', async () => {
    const db = env.database.db;
    const ideaId = (await createIdeas(db, await createProduct(db), 1, 'DRAFT'))[0]!;

    expect(await producerStatus()).toBe('ready');
    await redis.stop();
    await waitFor('the producer connection to notice Redis is gone', async () => (await producerStatus()) !== 'ready', {
      timeoutMs: 10_000,
    });

    const reply = await api.call('POST', '/api/v1/jobs', { kind: 'idea_grill', idea_id: ideaId });
    expect(reply.status).toBe(202);
    expect(reply.body.status).toBe('queued');
    const id: string = reply.body.id;
    expect((await db.selectFrom('claude_jobs').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status).toBe('QUEUED');
    expect(await statusOf(db, 'IDEA', ideaId)).toBe('GRILLING');
    // Reading needs only Postgres.
    expect((await api.call('GET', `/api/v1/jobs/${id}`)).body.status).toBe('queued');

    await redis.start();
    await waitFor('the producer connection to come back', async () => (await producerStatus()) === 'ready', { timeoutMs: 15_000 });
    // The restarted server lost everything: only the sweep can put the job on its queue.
    expect(await api.queues.queue('IDEA_GRILL').getJob(id)).toBeUndefined();

    const report = await sweep({
      db,
      queues: api.queues,
      logger: env.logger,
      leaseMs: 60_000,
      staleClaimMs: 60_000,
      maxRetries: 2,
      reconcileGraceMs: 0,
    });
    expect(report.readded).toBe(1);
    const entry = await api.queues.queue('IDEA_GRILL').getJob(id);
    expect(entry?.data).toEqual({ id });
    expect((await db.selectFrom('claude_jobs').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status).toBe('QUEUED');

    // A second sweep finds nothing more to add.
    expect(
      (
        await sweep({
          db,
          queues: api.queues,
          logger: env.logger,
          leaseMs: 60_000,
          staleClaimMs: 60_000,
          maxRetries: 2,
          reconcileGraceMs: 0,
        })
      ).readded,
    ).toBe(0);
  });
});
