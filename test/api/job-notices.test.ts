/**
 * Job notices (an agent's progress, its questions) on the live streams: SSE and the WebSocket
 * carry them to the job's owner (and to worker tokens, as every job event), never to another
 * owner, with the stream's filters; they carry no id, so a reconnect's Last-Event-ID still
 * replays exactly the status changes from history. An answer given over HTTP is one of them.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachEventSocket, type EventSocket } from '../../src/api/event-socket.js';
import { createToken } from '../../src/auth/token.repository.js';
import type { ClaudeJob } from '../../src/db/tables/claude-job.table.js';
import { type EventRelay, startEventRelay } from '../../src/events/event-relay.js';
import { noticeJob, progressEvent, publishJobNotices, questionEvent } from '../../src/events/job-notices.js';
import { askQuestion, questionView } from '../../src/jobs/job-questions.js';
import { type ApiHarness, createApiHarness } from '../helpers/api-harness.js';
import { type EventClient, type ReceivedEvent, sseClient, wsClient } from '../helpers/event-clients.js';
import { createRunningJob } from '../helpers/running-jobs.js';
import { createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let api: ApiHarness;
let server: Server;
let socket: EventSocket;
let relay: EventRelay;
let origin: string;
let alice: { id: string; auth: Record<string, string> };
let bob: { id: string; auth: Record<string, string> };
let worker: { id: string; auth: Record<string, string> };
let aliceProduct: string;
let bobProduct: string;
const clients: EventClient[] = [];

async function token(owner: string, scopes: string[]) {
  const { token: row, secret } = await createToken(env.database.db, { name: `${owner} ${scopes}`, ownerId: owner, scopes });
  return { id: row.id, auth: { authorization: `Bearer ${secret}` } };
}

beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: api.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as unknown as Server));
  });
  socket = attachEventSocket(server, api.deps);
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // History rows become live events through the relay, as in the sweeper.
  relay = await startEventRelay({
    connectionString: env.database.url,
    db: env.database.db,
    redis: api.deps.redis,
    prefix: env.prefix,
    logger: env.logger,
  });
  alice = await token('alice', ['read', 'enqueue']);
  bob = await token('bob', ['read', 'enqueue']);
  worker = await token('system', ['worker']);
  aliceProduct = await createProduct(env.database.db, 'alice');
  bobProduct = await createProduct(env.database.db, 'bob');
});
afterAll(async () => {
  for (const client of clients) client.close();
  await relay.close();
  await socket.close();
  await api.deps.events.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await api.close();
  await env.teardown();
});

function track<T extends EventClient>(client: T): T {
  clients.push(client);
  return client;
}

const sse = (query: string, auth: Record<string, string>) => track(sseClient(`${origin}/api/v1/events${query}`, auth));
const ws = (query: string, auth: Record<string, string>) => track(wsClient(`${origin.replace('http', 'ws')}/api/v1/ws${query}`, auth));

async function publish(...notices: Parameters<typeof publishJobNotices>[2]) {
  await publishJobNotices(api.deps.redis, env.prefix, notices);
}

async function asked(job: ClaudeJob, question: string, options: string[] | null = null) {
  const row = await askQuestion(env.database.db, { jobId: job.id, productId: job.product_id, question, options });
  await publish(questionEvent('question_asked', await noticeJob(env.database.db, job.id), questionView(row)));
  return row;
}

const of = (jobId: string, type: string) => (events: ReceivedEvent[]) => events.find((e) => e.type === type && e.data.entity_id === jobId);

describe('job notices on the live streams', () => {
  it("reach the job's owner over SSE and WebSocket, and worker tokens, without an id; never another owner", async () => {
    const streams = {
      aliceSse: sse('', alice.auth),
      aliceWs: ws('', alice.auth),
      bobSse: sse('', bob.auth),
      bobWs: ws('', bob.auth),
      workerSse: sse('', worker.auth),
    };
    await Promise.all(Object.values(streams).map((client) => client.connected));
    const aliceJob = await createRunningJob(env.database.db, aliceProduct);
    const bobJob = await createRunningJob(env.database.db, bobProduct);

    await publish(progressEvent(await noticeJob(env.database.db, aliceJob.id), { message: 'Reading the code', percent: 40 }));
    const question = await asked(aliceJob, 'Which branch?', ['main', 'develop']);
    // Published after alice's notices on the same channel: once bob has it, he would have had hers.
    await publish(progressEvent(await noticeJob(env.database.db, bobJob.id), { message: 'Bob at work' }));

    for (const client of [streams.aliceSse, streams.aliceWs, streams.workerSse]) {
      await client.waitFor("alice's question", (events) => Boolean(of(aliceJob.id, 'question_asked')(events)));
      const progress = of(aliceJob.id, 'progress')(client.events)!;
      expect(progress.data).toMatchObject({
        type: 'progress',
        entity: 'job',
        entity_id: aliceJob.id,
        from: null,
        to: 'running',
        trigger: 'progress',
        product_id: aliceProduct,
        job: { id: aliceJob.id, kind: 'idea_grill', idea_id: aliceJob.idea_id },
        idea_id: aliceJob.idea_id,
        progress: { message: 'Reading the code', percent: 40 },
      });
      const ask = of(aliceJob.id, 'question_asked')(client.events)!;
      expect(ask.data.question).toEqual(questionView(question));
      expect(ask.data.question).toMatchObject({ status: 'open', options: ['main', 'develop'], question: 'Which branch?' });
      // No id: SSE sends no id line, the WebSocket says null.
      for (const notice of [progress, ask]) {
        expect(notice.id).toBeUndefined();
        expect(notice.data.id).toBeNull();
      }
    }
    await streams.workerSse.waitFor("bob's progress", (events) => Boolean(of(bobJob.id, 'progress')(events)));
    for (const client of [streams.bobSse, streams.bobWs]) {
      await client.waitFor("bob's progress", (events) => Boolean(of(bobJob.id, 'progress')(events)));
      expect(of(bobJob.id, 'progress')(client.events)!.data.progress).toEqual({ message: 'Bob at work', percent: null });
      expect(client.events.filter((event) => event.data.entity_id === aliceJob.id || event.data.product_id === aliceProduct)).toEqual([]);
    }
    expect(streams.aliceSse.events.filter((event) => event.data.product_id === bobProduct)).toEqual([]);
  });

  it("answering over HTTP publishes question_answered to the owner's stream of that job, naming the answering token", async () => {
    const job = await createRunningJob(env.database.db, aliceProduct);
    const other = await createRunningJob(env.database.db, aliceProduct);
    const forJob = sse(`?job_id=${job.id}`, alice.auth);
    const forJobWs = ws(`?job_id=${job.id}`, alice.auth);
    await Promise.all([forJob.connected, forJobWs.connected]);
    const question = await askQuestion(env.database.db, { jobId: job.id, productId: job.product_id, question: 'Ship it?', options: null });
    await publish(progressEvent(await noticeJob(env.database.db, other.id), { message: 'another job', percent: 1 }));

    const reply = await api.call('POST', `/api/v1/jobs/${job.id}/questions/${question.id}/answer`, { answer: 'Yes, ship it.' }, alice.auth);
    expect(reply.status).toBe(200);
    for (const client of [forJob, forJobWs]) {
      await client.waitFor('the answer', (events) => Boolean(of(job.id, 'question_answered')(events)));
      const answered = of(job.id, 'question_answered')(client.events)!;
      expect(answered.data.actor_token_id).toBe(alice.id);
      expect(answered.data.question).toEqual(reply.body.question);
      expect(answered.data.question).toMatchObject({ status: 'answered', answer: 'Yes, ship it.' });
      // The other job's notice went out first; the filter kept it off this stream.
      expect(client.events.filter((event) => event.data.entity_id === other.id)).toEqual([]);
    }
    const refused = await api.call('POST', `/api/v1/jobs/${job.id}/questions/${question.id}/answer`, { answer: 'again' }, alice.auth);
    expect(refused.status).toBe(409);
  });

  it('leave Last-Event-ID replay to history: a reconnect gets the status changes it missed and no notice again', async () => {
    const first = sse('', alice.auth);
    await first.connected;
    const job = await createRunningJob(env.database.db, aliceProduct);
    const history = (events: ReceivedEvent[]) => events.filter((e) => e.data.entity_id === job.id && e.id !== undefined);
    await publish(progressEvent(await noticeJob(env.database.db, job.id), { message: 'half way', percent: 50 }));
    await first.waitFor('the job queued, claimed and running, and its progress', (events) =>
      Boolean(history(events).length === 3 && of(job.id, 'progress')(events)),
    );
    expect(history(first.events).map((event) => `${event.type}:${event.data.to}`)).toEqual([
      'transition:queued',
      'transition:claimed',
      'started:running',
    ]);

    // Reconnecting after the first status change: the two later ones come again, the notice does not.
    const resumed = sse(`?job_id=${job.id}`, { ...alice.auth, 'last-event-id': history(first.events)[0]!.id! });
    await resumed.connected;
    expect(resumed.events.map((event) => `${event.type}:${event.data.to}:${event.id}`)).toEqual(
      history(first.events)
        .slice(1)
        .map((event) => `${event.type}:${event.data.to}:${event.id}`),
    );
    // And the resumed stream carries live notices after its replay.
    await publish(progressEvent(await noticeJob(env.database.db, job.id), { message: 'nearly there', percent: 90 }));
    await resumed.waitFor('the live notice', (events) => events.some((event) => event.data.progress?.percent === 90));
    expect(resumed.events.filter((event) => event.type === 'progress').map((event) => event.data.progress.percent)).toEqual([90]);
  });
});
