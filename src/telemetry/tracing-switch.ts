/**
 * Whether this process traces, decided from the standard OpenTelemetry variables alone (read by
 * src/config.ts, which hands the answer on). Tracing is off unless an exporter is named: an OTLP
 * endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or a traces
 * exporter other than `none` (OTEL_TRACES_EXPORTER); OTEL_SDK_DISABLED=true turns it off
 * whatever else is set. Off, the SDK is never loaded and the API's no-op tracer stands in.
 * Everything else (protocol, headers, sampler, batch delays) the SDK reads itself.
 */

export interface TracingSwitch {
  /** Start the SDK and record trace context on the jobs this process enqueues. */
  readonly enabled: boolean;
  /**
   * The operator named the service (OTEL_SERVICE_NAME, or service.name in
   * OTEL_RESOURCE_ATTRIBUTES); otherwise each role names itself (jobfleet-api, ...).
   */
  readonly serviceNamed: boolean;
}

export const TRACING_OFF: TracingSwitch = Object.freeze({ enabled: false, serviceNamed: false });

type Env = Readonly<Record<string, string | undefined>>;

const set = (value: string | undefined): value is string => value !== undefined && value.trim() !== '';

export function tracingSwitchOf(env: Env): TracingSwitch {
  // The SDK's own reading of a boolean variable: case-insensitive "true"; anything else is false.
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return TRACING_OFF;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  // `none` alone switches traces off, even beside an endpoint meant for metrics or logs.
  if (exporters.length === 1 && exporters[0] === 'none') return TRACING_OFF;
  const enabled = set(env.OTEL_EXPORTER_OTLP_ENDPOINT) || set(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) || exporters.length > 0;
  if (!enabled) return TRACING_OFF;
  const serviceNamed =
    set(env.OTEL_SERVICE_NAME) ||
    (env.OTEL_RESOURCE_ATTRIBUTES ?? '').split(',').some((pair) => pair.split('=')[0]?.trim() === 'service.name');
  return Object.freeze({ enabled, serviceNamed });
}
