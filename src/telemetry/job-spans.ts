/**
 * A worker's spans for one delivery of a job, children of the trace context the job carries
 * from its enqueue: `jobfleet.job.claim` (from the delivery's arrival to the claim's commit),
 * `jobfleet.job.run` (the agent), `jobfleet.job.outcome` (from the agent's end to the outcome's
 * commit). Every span names the job, its kind and its owner. The claim is a batch shared by many
 * deliveries and the row's trace context is only known once it is read, so the claim span is
 * recorded after the fact, with the delivery's arrival as its start.
 */
import { type Attributes, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { contextOf, settled, tracer, tracingOn } from './tracing.js';

/** What the spans need of a job row. */
export interface TracedJob {
  id: string;
  kind: string;
  owner_id: string;
  attempt_count: number;
  trace_context?: string | null;
}

export const jobAttributes = (job: Pick<TracedJob, 'id' | 'kind' | 'owner_id'>): Attributes => ({
  'jobfleet.job.id': job.id,
  'jobfleet.job.kind': job.kind,
  'jobfleet.owner.id': job.owner_id,
});

/** Names the jobs a request enqueued on its span: one job by id, kind and owner; a batch by its size. */
export function noteEnqueued(jobs: readonly Pick<TracedJob, 'id' | 'kind' | 'owner_id'>[]): void {
  if (!tracingOn()) return;
  const span = trace.getActiveSpan();
  if (!span) return;
  if (jobs.length === 1) span.setAttributes(jobAttributes(jobs[0]!));
  else span.setAttribute('jobfleet.job.count', jobs.length);
}

export interface JobTrace {
  /** Runs the agent inside the run span. */
  run<T>(work: () => Promise<T>): Promise<T>;
  /** Records the outcome span, from the run's end (or the claim's) until now. */
  ended(outcome: { status: string; reason?: string; why?: string }): void;
}

/** The delivery's spans once its claim committed; null when tracing is off. */
export function traceClaimed(job: TracedJob, arrivedAt: number, workerId: string): JobTrace | null {
  if (!tracingOn()) return null;
  const parent = contextOf(job.trace_context);
  const attributes: Attributes = { ...jobAttributes(job), 'jobfleet.job.attempt': job.attempt_count, 'jobfleet.worker.id': workerId };
  tracer.startSpan('jobfleet.job.claim', { kind: SpanKind.CONSUMER, startTime: arrivedAt, attributes }, parent).end();
  let since = Date.now();
  return {
    run: (work) =>
      tracer.startActiveSpan('jobfleet.job.run', { attributes }, parent, (span) =>
        settled(span, work).finally(() => {
          since = Date.now();
        }),
      ),
    ended(outcome) {
      const span = tracer.startSpan(
        'jobfleet.job.outcome',
        { startTime: since, attributes: { ...attributes, 'jobfleet.job.outcome': outcome.status } },
        parent,
      );
      const reason = outcome.reason ?? outcome.why;
      if (outcome.status === 'FAILED' || outcome.status === 'error') span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
      else if (reason) span.setAttribute('jobfleet.job.outcome_reason', reason);
      span.end();
    },
  };
}
