/**
 * The sweep runs retention as its last step, and what still names a job that aged out (a step, a
 * schedule, a chat message, a retry) is answered sensibly by the API: the job's own id is a 404,
 * the rows that name it still read.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import { sweep } from '../../src/sweeper/sweep.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { idea, inTrx, product, sprint, sprintRun, step } from '../helpers/fixtures.js';
import { leaseSweepDeps } from '../helpers/leased-jobs.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let api: ApiHarness;
let db: Db;
beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  db = env.database.db;
});
afterAll(async () => {
  await api.close();
  await env.teardown();
});

const ago = (days: number) => sql<Date>`now() - ${days} * interval '1 day'`;

describe('the sweep', () => {
  it('ages out an old finished job; a step, a schedule, a chat message and a retry that name it still read, the job answers 404', async () => {
    const world = await inTrx(db, async (trx) => {
      const p = await product(trx);
      const run = await sprintRun(trx, (await sprint(trx, p.id)).id);
      return { productId: p.id, ideaId: (await idea(trx, p.id)).id, runId: run.id, stepId: (await step(trx, run.id)).id };
    });
    await sql`UPDATE transitions SET created_at = ${ago(200)}`.execute(db);
    const { rows } = await sql<{ id: string }>`
      INSERT INTO claude_jobs (kind, status, idea_id, product_id, owner_id, created_at, finished_at)
      VALUES ('PLAN_CHAT', 'FAILED', ${world.ideaId}, ${world.productId}, 'owner-a', ${ago(120)}, ${ago(120)})
      RETURNING id
    `.execute(db);
    const old = rows[0]!.id;
    await sql`
      INSERT INTO transitions (entity_type, entity_id, from_status, to_status, trigger, created_at)
      VALUES ('CLAUDE_JOB', ${old}, NULL, 'QUEUED', 'enqueued', ${ago(120)}), ('CLAUDE_JOB', ${old}, 'QUEUED', 'FAILED', 'test', ${ago(120)})
    `.execute(db);
    const { rows: retries } = await sql<{ id: string }>`
      INSERT INTO claude_jobs (kind, status, idea_id, product_id, owner_id, created_at, finished_at, retry_of_job_id)
      VALUES ('PLAN_CHAT', 'DONE', ${world.ideaId}, ${world.productId}, 'owner-a', now(), now(), ${old})
      RETURNING id
    `.execute(db);
    const retry = retries[0]!.id;
    await sql`UPDATE steps SET job_id = ${old} WHERE id = ${world.stepId}`.execute(db);
    const { rows: schedules } = await sql<{ id: string }>`
      INSERT INTO schedules (owner_id, product_id, kind, idea_id, every_ms, last_job_id)
      VALUES ('owner-a', ${world.productId}, 'PLAN_CHAT', ${world.ideaId}, 60000, ${old})
      RETURNING id
    `.execute(db);
    await sql`
      INSERT INTO idea_logs (idea_id, type, content, job_id, created_at)
      VALUES (${world.ideaId}, 'CHAT_MESSAGE', 'Which one?', ${old}, ${ago(120)} - interval '1 minute'),
        (${world.ideaId}, 'JOB_EVENT', 'failed', ${old}, ${ago(120)} + interval '1 second')
    `.execute(db);
    expect((await api.call('GET', `/api/v1/jobs/${old}`)).status).toBe(200);

    const report = await sweep({
      ...leaseSweepDeps({ db, queues: api.queues, logger: env.logger }, 60_000),
      retention: { historyDays: 30, jobDays: 90 },
    });
    expect(report).toMatchObject({ agedOutJobs: 1, agedOutHistory: 2, agedOutLogs: 1 });

    const gone = await api.call('GET', `/api/v1/jobs/${old}`);
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('not_found');
    const stepRead = await api.call('GET', `/api/v1/steps/${world.stepId}`);
    expect(stepRead.status).toBe(200);
    expect(stepRead.body.job_id).toBe(old);
    expect((await api.call('GET', `/api/v1/sprint-runs/${world.runId}/steps`)).status).toBe(200);
    const scheduleRead = await api.call('GET', `/api/v1/schedules/${schedules[0]!.id}`);
    expect(scheduleRead.status).toBe(200);
    expect(scheduleRead.body.last_job_id).toBe(old);
    const logs = await api.call('GET', `/api/v1/ideas/${world.ideaId}/logs`);
    expect(logs.status).toBe(200);
    expect(logs.body.items.map((item: { type: string }) => item.type)).toEqual(['chat_message']);
    const retryRead = await api.call('GET', `/api/v1/jobs/${retry}`);
    expect(retryRead.status).toBe(200);
    expect(retryRead.body.retry_of_job_id).toBe(old);
  });
});
