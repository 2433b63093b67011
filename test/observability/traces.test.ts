/**
 * One trace per job across the fleet: the API and a worker run as separate processes, exporting
 * to an OTLP/HTTP receiver this test runs (http/json). The request that enqueued a job and the
 * worker's claim, run and outcome spans share one trace id, the worker's spans hang from the
 * request's span, and each names the job, its kind and its owner. Without the OTEL_* variables
 * (or with OTEL_SDK_DISABLED=true) nothing is sent and the job carries no trace context.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js';
import { killAll, spawnJobfleet } from '../helpers/processes.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

const ADMIN_TOKEN = 'traces-admin-token-0123';
let env: TestEnv;
let receiver: OtlpReceiver;

beforeAll(async () => {
  env = await createTestEnv({ ADMIN_TOKEN });
  receiver = await startOtlpReceiver();
});
afterAll(async () => {
  await killAll();
  await receiver?.close();
  await env?.teardown();
});

/** An API process and a worker process for idea_grill jobs, both with `extra` in their environment. */
async function fleet(extra: Record<string, string>) {
  const api = spawnJobfleet(['api'], { ...env.env, ...extra });
  const base = (await api.line(/listening on (http:\/\/\S+)\/api\/v1/))[1]!;
  const worker = spawnJobfleet(['worker', '--kinds', 'idea_grill'], { ...env.env, ...extra });
  await worker.line(/jobfleet worker \S+ running/);
  return { api, worker, base };
}

/** Enqueues a grill of a new idea over HTTP and waits until it is done. */
async function grillDone(base: string) {
  const db = env.database.db;
  const product = await createProduct(db, 'owner-traced');
  const [idea] = await createIdeas(db, product, 1);
  const response = await fetch(`${base}/api/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'idea_grill', idea_id: idea }),
  });
  expect(response.status).toBe(202);
  const { id } = (await response.json()) as { id: string };
  await waitFor('the job to be done', async () => {
    const row = await db.selectFrom('claude_jobs').select('status').where('id', '=', id).executeTakeFirstOrThrow();
    return row.status === 'DONE';
  });
  return db.selectFrom('claude_jobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

const named = (spans: readonly ReceivedSpan[], name: string) => spans.filter((span) => span.name === name);

describe('traces', () => {
  it("holds a job's request, claim, run and outcome in one trace across the API and worker processes", async () => {
    const { api, worker, base } = await fleet({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    const job = await grillDone(base);
    const outcome = await waitFor('the outcome span', () =>
      receiver.spans.find((span) => span.name === 'jobfleet.job.outcome' && span.attributes['jobfleet.job.id'] === job.id),
    );
    const trace = await waitFor('the request span of the same trace', () => {
      const spans = receiver.spans.filter((span) => span.traceId === outcome.traceId);
      return named(spans, 'POST /api/v1/jobs').length === 1 ? spans : undefined;
    });

    const [request] = named(trace, 'POST /api/v1/jobs');
    expect(request).toMatchObject({ service: 'jobfleet-api', pid: api.pid, parentSpanId: '', kind: 2 /* SERVER */ });
    expect(request!.attributes).toMatchObject({
      'http.response.status_code': 202,
      'jobfleet.job.id': job.id,
      'jobfleet.job.kind': 'IDEA_GRILL',
      'jobfleet.owner.id': 'owner-traced',
    });
    // The row keeps the request span's context: a requeue or a retry continues the same trace.
    expect(JSON.parse(job.trace_context!).traceparent).toBe(`00-${request!.traceId}-${request!.spanId}-01`);

    for (const name of ['jobfleet.job.claim', 'jobfleet.job.run', 'jobfleet.job.outcome']) {
      const [span, ...more] = named(trace, name);
      expect(more, name).toEqual([]);
      expect(span, name).toMatchObject({ service: 'jobfleet-worker', pid: worker.pid, parentSpanId: request!.spanId });
      expect(span!.attributes, name).toMatchObject({
        'jobfleet.job.id': job.id,
        'jobfleet.job.kind': 'IDEA_GRILL',
        'jobfleet.owner.id': 'owner-traced',
      });
    }
    expect(named(trace, 'jobfleet.job.outcome')[0]!.attributes['jobfleet.job.outcome']).toBe('DONE');
    expect(api.pid).not.toBe(worker.pid);
    api.kill();
    worker.kill();
    await Promise.all([api.exited, worker.exited]);
  });

  it.each([
    ['no OTEL_* variables', {}],
    ['OTEL_SDK_DISABLED=true beside an endpoint', { OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'RECEIVER' }],
  ])('sends nothing and keeps no trace context on the job with %s', async (_, extra: Record<string, string>) => {
    const { api, worker, base } = await fleet(
      Object.fromEntries(Object.entries(extra).map(([key, value]) => [key, value === 'RECEIVER' ? receiver.url : value])),
    );
    const before = receiver.posts;
    const job = await grillDone(base);
    expect(job.trace_context).toBeNull();
    // A graceful shutdown flushes whatever a running SDK holds: after it, anything sent has arrived.
    api.kill();
    worker.kill();
    expect((await api.exited).code).toBe(0);
    expect((await worker.exited).code).toBe(0);
    expect(receiver.posts).toBe(before);
  });
});
