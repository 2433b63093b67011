/**
 * A server span per HTTP request (@hono/otel), continuing a caller's `traceparent`. Mounted only
 * when the process traces: the enqueue routes' jobs record this span's context, so a job's trace
 * starts at the request that enqueued it.
 */
import { httpInstrumentationMiddleware } from '@hono/otel';

export function requestSpans() {
  // The request-count gauge is a metric, and jobfleet exports no OpenTelemetry metrics.
  return httpInstrumentationMiddleware({ captureActiveRequests: false });
}
