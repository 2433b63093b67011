/**
 * Answering an agent's questions over HTTP: one answer wins (also when many race), a closed
 * question takes none, options bind the answer, and owners see and answer only their own jobs'
 * questions. And a job's REST shape carries the agent's last progress report.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/auth/token.repository.js';
import type { ClaudeJob } from '../../src/db/tables/claude-job.table.js';
import { askQuestion, closeQuestions, getQuestion } from '../../src/jobs/job-questions.js';
import { type ApiHarness, createApiHarness } from '../helpers/api-harness.js';
import { createRunningJob } from '../helpers/running-jobs.js';
import { createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let api: ApiHarness;
let alice: { id: string; auth: Record<string, string> };
let bob: { id: string; auth: Record<string, string> };
let aliceProduct: string;
let bobProduct: string;

async function owner(name: string, scopes: string[]) {
  const { token, secret } = await createToken(env.database.db, { name, ownerId: name, scopes });
  return { id: token.id, auth: { authorization: `Bearer ${secret}` } };
}

beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  alice = await owner('alice', ['read', 'write', 'enqueue']);
  bob = await owner('bob', ['read', 'write', 'enqueue']);
  aliceProduct = await createProduct(env.database.db, 'alice', 'Alice product');
  bobProduct = await createProduct(env.database.db, 'bob', 'Bob product');
});
afterAll(async () => {
  await api.close();
  await env.teardown();
});

async function ask(job: ClaudeJob, question: string, options: string[] | null = null) {
  return askQuestion(env.database.db, { jobId: job.id, productId: job.product_id, question, options });
}

const answerPath = (jobId: string, questionId: string) => `/api/v1/jobs/${jobId}/questions/${questionId}/answer`;

describe('POST /api/v1/jobs/{id}/questions/{question_id}/answer', () => {
  it("answers 200 with the question answered by the caller's token, then 409 question_closed to a second answer", async () => {
    const job = await createRunningJob(env.database.db, aliceProduct);
    const question = await ask(job, 'Which database should the cache use?');

    const first = await api.call('POST', answerPath(job.id, question.id), { answer: '  Redis, please.  ' }, alice.auth);
    expect(first.status).toBe(200);
    expect(first.body.question).toMatchObject({
      id: question.id,
      job_id: job.id,
      product_id: aliceProduct,
      question: 'Which database should the cache use?',
      options: null,
      status: 'answered',
      answer: 'Redis, please.',
      answered_by_token_id: alice.id,
      closed_reason: null,
      closed_at: null,
    });
    expect(new Date(first.body.question.answered_at).toISOString()).toBe(first.body.question.answered_at);

    const second = await api.call('POST', answerPath(job.id, question.id), { answer: 'Postgres.' }, alice.auth);
    expect(second.status).toBe(409);
    expect(second.body.error).toMatchObject({ code: 'question_closed', details: { id: question.id, status: 'answered' } });
    expect(second.body.error.message).toContain('answered already');
    expect((await getQuestion(env.database.db, question.id))!.answer).toBe('Redis, please.');
  });

  it('lets exactly one of many concurrent answers win; every other gets 409 and the stored answer is the winner’s', async () => {
    const job = await createRunningJob(env.database.db, aliceProduct);
    const question = await ask(job, 'Go ahead?');
    const replies = await Promise.all(
      Array.from({ length: 12 }, (_, i) => api.call('POST', answerPath(job.id, question.id), { answer: `answer ${i}` }, alice.auth)),
    );
    const won = replies.filter((reply) => reply.status === 200);
    expect(won).toHaveLength(1);
    expect(replies.filter((reply) => reply.status === 409)).toHaveLength(11);
    for (const lost of replies.filter((reply) => reply.status === 409)) expect(lost.body.error.code).toBe('question_closed');
    expect((await getQuestion(env.database.db, question.id))!.answer).toBe(won[0]!.body.question.answer);
  });

  it('refuses an answer that is not one of the options with 422 naming them, and accepts one that is', async () => {
    const job = await createRunningJob(env.database.db, aliceProduct);
    const question = await ask(job, 'Merge strategy?', ['rebase', 'squash']);
    const wrong = await api.call('POST', answerPath(job.id, question.id), { answer: 'merge' }, alice.auth);
    expect(wrong.status).toBe(422);
    expect(wrong.body.error.code).toBe('validation_failed');
    expect(wrong.body.error.details.allowed).toEqual(['rebase', 'squash']);
    expect(wrong.body.error.message).toContain('"rebase", "squash"');
    expect((await getQuestion(env.database.db, question.id))!.status).toBe('OPEN');

    const right = await api.call('POST', answerPath(job.id, question.id), { answer: 'squash' }, alice.auth);
    expect(right.status).toBe(200);
    expect(right.body.question).toMatchObject({ status: 'answered', answer: 'squash', options: ['rebase', 'squash'] });
  });

  it('refuses an empty, blank, too long or missing answer with 422 and leaves the question open', async () => {
    const job = await createRunningJob(env.database.db, aliceProduct);
    const question = await ask(job, 'Anything to add?');
    for (const body of [
      { answer: '' },
      { answer: '   ' },
      { answer: 'x'.repeat(10_001) },
      {},
      { answer: 42 },
      { answer: 'ok', extra: 1 },
    ]) {
      const reply = await api.call('POST', answerPath(job.id, question.id), body, alice.auth);
      expect(reply.status, JSON.stringify(body).slice(0, 40)).toBe(422);
      expect(reply.body.error.code).toBe('validation_failed');
      expect(reply.body.error.details.issues.length).toBeGreaterThan(0);
    }
    expect((await getQuestion(env.database.db, question.id))!.status).toBe('OPEN');
    expect((await api.call('POST', answerPath(job.id, question.id), { answer: 'x'.repeat(10_000) }, alice.auth)).status).toBe(200);
  });

  it("answers 404 for another owner's question, an unknown or malformed id, and a question of another job", async () => {
    const job = await createRunningJob(env.database.db, aliceProduct);
    const other = await createRunningJob(env.database.db, aliceProduct);
    const question = await ask(job, 'Private?');
    const tries = [
      { path: answerPath(job.id, question.id), auth: bob.auth },
      { path: answerPath(job.id, '0199a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d'), auth: alice.auth },
      { path: answerPath(job.id, 'not-a-uuid'), auth: alice.auth },
      { path: answerPath('not-a-uuid', question.id), auth: alice.auth },
      { path: answerPath(other.id, question.id), auth: alice.auth },
    ];
    for (const { path, auth } of tries) {
      const reply = await api.call('POST', path, { answer: 'yes' }, auth);
      expect(reply.status, path).toBe(404);
      expect(reply.body.error.code).toBe('not_found');
    }
    expect((await getQuestion(env.database.db, question.id))!.status).toBe('OPEN');
    // An admin answers any owner's.
    expect((await api.call('POST', answerPath(job.id, question.id), { answer: 'yes' })).status).toBe(200);
  });

  it('answers 409 once the job ended and its questions were closed; closing touches only open questions', async () => {
    const job = await createRunningJob(env.database.db, aliceProduct);
    const answered = await ask(job, 'First?');
    const open = await ask(job, 'Second?');
    expect((await api.call('POST', answerPath(job.id, answered.id), { answer: 'yes' }, alice.auth)).status).toBe(200);

    const closed = await closeQuestions(env.database.db, [job.id], 'job_cancelled');
    expect(closed.map((row) => [row.id, row.status, row.closed_reason])).toEqual([[open.id, 'CLOSED', 'job_cancelled']]);
    expect(await closeQuestions(env.database.db, [job.id], 'again')).toEqual([]);

    const late = await api.call('POST', answerPath(job.id, open.id), { answer: 'too late' }, alice.auth);
    expect(late.status).toBe(409);
    expect(late.body.error).toMatchObject({ code: 'question_closed', details: { status: 'closed' } });
    expect(late.body.error.message).toContain('job_cancelled');
    expect((await getQuestion(env.database.db, answered.id))!).toMatchObject({ status: 'ANSWERED', answer: 'yes' });
  });

  it('needs the enqueue scope, as steering any job does: a read or write token gets 403, an enqueue token may answer', async () => {
    const job = await createRunningJob(env.database.db, bobProduct);
    const question = await ask(job, 'Scope?');
    for (const scope of ['read', 'write']) {
      const other = await createToken(env.database.db, { name: `bob ${scope}s`, ownerId: 'bob', scopes: [scope] });
      const refused = await api.call(
        'POST',
        answerPath(job.id, question.id),
        { answer: 'no' },
        { authorization: `Bearer ${other.secret}` },
      );
      expect(refused.status).toBe(403);
    }
    const enqueuer = await createToken(env.database.db, { name: 'bob enqueues', ownerId: 'bob', scopes: ['enqueue'] });
    const accepted = await api.call(
      'POST',
      answerPath(job.id, question.id),
      { answer: 'yes' },
      { authorization: `Bearer ${enqueuer.secret}` },
    );
    expect(accepted.status).toBe(200);
    expect(accepted.body.question.answered_by_token_id).toBe(enqueuer.token.id);
  });
});

describe('listing questions', () => {
  it("GET /jobs/{id}/questions lists a job's questions oldest first to its owner, and 404 to anyone else", async () => {
    const job = await createRunningJob(env.database.db, aliceProduct);
    const first = await ask(job, 'One?', ['a', 'b']);
    const second = await ask(job, 'Two?');
    await closeQuestions(env.database.db, [job.id], 'job_done');
    const reply = await api.call('GET', `/api/v1/jobs/${job.id}/questions`, undefined, alice.auth);
    expect(reply.status).toBe(200);
    expect(reply.body.items.map((q: any) => [q.id, q.question, q.options, q.status])).toEqual([
      [first.id, 'One?', ['a', 'b'], 'closed'],
      [second.id, 'Two?', null, 'closed'],
    ]);
    expect((await api.call('GET', `/api/v1/jobs/${job.id}/questions`, undefined, bob.auth)).status).toBe(404);
    expect((await api.call('GET', '/api/v1/jobs/not-a-uuid/questions', undefined, alice.auth)).status).toBe(404);
  });

  it("GET /questions?status=open lists the owner's open questions newest first with their job's kind, page by page; admins see every owner's", async () => {
    const aliceJob = await createRunningJob(env.database.db, aliceProduct);
    const bobJob = await createRunningJob(env.database.db, bobProduct);
    const older = await ask(aliceJob, 'Alice older?');
    const newer = await ask(aliceJob, 'Alice newer?');
    const answered = await ask(aliceJob, 'Alice answered?');
    const bobs = await ask(bobJob, 'Bob?');
    expect((await api.call('POST', answerPath(aliceJob.id, answered.id), { answer: 'done' }, alice.auth)).status).toBe(200);

    const openOf = async (auth?: Record<string, string>) => {
      const ids: string[] = [];
      let cursor: string | null = null;
      do {
        const reply = await api.call('GET', `/api/v1/questions?status=open&limit=1${cursor ? `&cursor=${cursor}` : ''}`, undefined, auth);
        expect(reply.status).toBe(200);
        expect(reply.body.items.length).toBeLessThanOrEqual(1);
        for (const item of reply.body.items) {
          expect(item.status).toBe('open');
          expect(item.job_kind).toBe('idea_grill');
          ids.push(item.id);
        }
        cursor = reply.body.next_cursor;
      } while (cursor);
      return ids;
    };
    const alices = await openOf(alice.auth);
    expect(alices.indexOf(newer.id)).toBeLessThan(alices.indexOf(older.id));
    expect(alices).toContain(older.id);
    expect(alices).not.toContain(answered.id);
    expect(alices).not.toContain(bobs.id);
    expect(await openOf(bob.auth)).not.toContain(older.id);
    expect(await openOf()).toEqual(expect.arrayContaining([older.id, newer.id, bobs.id]));

    const all = await api.call('GET', '/api/v1/questions?status=open,answered&limit=200', undefined, alice.auth);
    expect(all.body.items.map((q: any) => q.id)).toContain(answered.id);
    const bad = await api.call('GET', '/api/v1/questions?status=pending', undefined, alice.auth);
    expect(bad.status).toBe(422);
    expect(bad.body.error.message).toContain('open, answered, closed');
  });

  it('needs the read scope', async () => {
    const writer = await createToken(env.database.db, { name: 'writes only', ownerId: 'alice', scopes: ['write'] });
    expect((await api.call('GET', '/api/v1/questions', undefined, { authorization: `Bearer ${writer.secret}` })).status).toBe(403);
  });
});

describe("a job's progress", () => {
  it("is null until the agent reports, then the job's REST shape shows the last report", async () => {
    const job = await createRunningJob(env.database.db, aliceProduct);
    expect((await api.call('GET', `/api/v1/jobs/${job.id}`, undefined, alice.auth)).body.progress).toBeNull();
    const at = new Date().toISOString();
    await env.database.db
      .updateTable('claude_jobs')
      .set({ progress: JSON.stringify({ message: 'Reading the code', percent: 40, at }) })
      .where('id', '=', job.id)
      .execute();
    const reply = await api.call('GET', `/api/v1/jobs/${job.id}`, undefined, alice.auth);
    expect(reply.body.progress).toEqual({ message: 'Reading the code', percent: 40, at });
    const listed = await api.call('GET', '/api/v1/jobs?status=running&limit=200', undefined, alice.auth);
    expect(listed.body.items.find((item: any) => item.id === job.id).progress.percent).toBe(40);
  });
});
